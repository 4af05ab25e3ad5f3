/**
 * X-Request-Id: a caller's plain id (1..128 of A-Z a-z 0-9 . _ : -) is kept, anything else
 * is replaced by a generated UUID; either way it is returned on every answer (errors
 * included) and is the `requestId` of every log line the request produces.
 */
import t, { type Test } from 'tap'
import { build } from '../helpers/app.js'
import { bearer, tokenFor } from '../helpers/tokens.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

type LogLine = Record<string, unknown>

/**
 * The app with one extra route that logs twice and then fails unexpectedly, so that a
 * request produces several log lines (handler lines, "unhandled error", "request completed").
 */
async function appWithNoisyRoute (t: Test) {
  const app = await build(t, {
    env: { LOG_LEVEL: 'debug' },
    beforeListen: (app) => app.get('/test/noisy', async (request) => {
      request.log.info('first line from the handler')
      request.log.debug({ detail: 42 }, 'second line from the handler')
      throw new Error('unexpected failure')
    })
  })
  return { url: app.url, logs: (): LogLine[] => app.logs, logText: app.logText }
}

t.test('a valid X-Request-Id is echoed and is in every log line of the request', async (t) => {
  const app = await appWithNoisyRoute(t)
  const id = 'req-2026.11.25:abc_DEF-123'
  const startupLines = app.logs().length
  const response = await fetch(`${app.url}/test/noisy`, { headers: { 'x-request-id': id } })
  t.equal(response.status, 500)
  t.equal(response.headers.get('x-request-id'), id, 'echoed on an error answer too')
  await response.arrayBuffer()

  const mine = app.logs().filter((line) => line.requestId === id)
  t.same(mine.map((line) => line.msg), ['first line from the handler', 'second line from the handler', 'unhandled error', 'request completed'])
  const requestLines = app.logs().slice(startupLines).filter((line) => line.msg !== undefined)
  t.ok(requestLines.every((line) => line.requestId === id), 'no request log line without the id')
  t.notOk(requestLines.some((line) => 'reqId' in line), 'one name for it: requestId')
})

t.test('the id is echoed on every kind of answer', async (t) => {
  const app = await appWithNoisyRoute(t)
  const cases: Array<[string, () => Promise<Response>, number]> = [
    ['200 signing', () => fetch(`${app.url}/v1/download-urls`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'id-200', ...bearer(tokenFor('alice')) }, body: '{"key":"a.txt"}' }), 200],
    ['401 no token', () => fetch(`${app.url}/v1/download-urls`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'id-401' }, body: '{"key":"a.txt"}' }), 401],
    ['400 bad body', () => fetch(`${app.url}/v1/download-urls`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'id-400', ...bearer(tokenFor('alice')) }, body: '{"key":' }), 400],
    ['404 unknown route', () => fetch(`${app.url}/nowhere`, { headers: { 'x-request-id': 'id-404' } }), 404],
    ['200 healthz', () => fetch(`${app.url}/healthz`, { headers: { 'x-request-id': 'id-healthz' } }), 200]
  ]
  for (const [name, send, status] of cases) {
    const response = await send()
    await response.arrayBuffer()
    t.equal(response.status, status, name)
    const id = `id-${name.startsWith('200 healthz') ? 'healthz' : String(status)}`
    t.equal(response.headers.get('x-request-id'), id, `${name}: echoed`)
    t.ok(app.logs().some((line) => line.msg === 'request completed' && line.requestId === id), `${name}: logged with it`)
  }
})

t.test('an invalid X-Request-Id is replaced by a generated UUID, and never logged', async (t) => {
  const app = await appWithNoisyRoute(t)
  const invalid: Array<[string, string]> = [
    ['markup', '<script>alert(1)</script>'],
    ['200 characters', 'a'.repeat(200)],
    ['129 characters', 'b'.repeat(129)],
    ['spaces', 'two words'],
    ['a log-injection attempt', 'x","level":60,"msg":"forged'],
    ['a list (two headers)', 'first-id, second-id'],
    ['latin-1 text', 'caf\u00e9']
  ]
  const seen = new Set<string>()
  for (const [name, value] of invalid) {
    const response = await fetch(`${app.url}/healthz`, { headers: { 'x-request-id': value } })
    await response.arrayBuffer()
    const id = response.headers.get('x-request-id') ?? ''
    t.match(id, UUID, `${name}: a generated UUID instead`)
    t.notOk(seen.has(id), `${name}: a fresh one`)
    seen.add(id)
    t.ok(app.logs().some((line) => line.msg === 'request completed' && line.requestId === id), `${name}: the generated id is logged`)
    t.notOk(app.logText().includes(value), `${name}: the invalid value is not logged`)
  }
})

t.test('limits: 128 characters is kept; no header gets a fresh UUID each time', async (t) => {
  const app = await appWithNoisyRoute(t)
  const longest = 'A1._:-'.repeat(21) + 'zz'
  t.equal(longest.length, 128)
  const kept = await fetch(`${app.url}/healthz`, { headers: { 'x-request-id': longest } })
  t.equal(kept.headers.get('x-request-id'), longest)
  const [a, b] = await Promise.all([fetch(`${app.url}/healthz`), fetch(`${app.url}/healthz`)])
  t.match(a?.headers.get('x-request-id'), UUID)
  t.match(b?.headers.get('x-request-id'), UUID)
  t.not(a?.headers.get('x-request-id'), b?.headers.get('x-request-id'))
})
