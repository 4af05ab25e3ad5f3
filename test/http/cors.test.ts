/**
 * CORS (src/http/cors.ts): off without CORS_ORIGINS (no CORS header at all); with it, exact origins
 * only, preflights answered without a token, the API's methods and headers allowed, the request id,
 * Retry-After and rate-limit headers exposed, preflights cached CORS_MAX_AGE_SECONDS. The browser
 * side (a real page on another origin) is test/e2e/cors.test.ts.
 */
import t from 'tap'
import { build, configure, expectProblem, postAsAlice, OFFLINE_STORAGE_ENV } from '../helpers/app.js'
import { TEST_JWT_SECRET } from '../helpers/tokens.js'
import { ConfigError } from '../../src/config/config.js'

const PAGE = 'https://app.example.com'
const OTHER = 'https://evil.example.net'
const preflight = (origin: string, headers = 'authorization, content-type') => ({
  method: 'OPTIONS',
  headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': headers }
})
const corsHeaders = (res: Response) => [...res.headers.keys()].filter((name) => name.startsWith('access-control-'))

t.test('without CORS_ORIGINS: no CORS header at all; OPTIONS on a known path is 405 with Allow', async (t) => {
  const app = await build(t)
  const answer = await postAsAlice(app, '/v1/download-urls', { key: 'a' }, { origin: PAGE })
  t.equal(answer.status, 200)
  t.same(corsHeaders(answer), [], 'a request with Origin gets no CORS header')
  const res = await fetch(app.url + '/v1/download-urls', preflight(PAGE))
  await expectProblem(t, res, 405, 'METHOD_NOT_ALLOWED')
  t.equal(res.headers.get('allow'), 'POST')
  t.same(corsHeaders(res), [], 'the preflight gets no CORS header: browsers refuse the call')
})

t.test('with CORS_ORIGINS', async (t) => {
  const app = await build(t, { env: { CORS_ORIGINS: `${PAGE}, http://127.0.0.1:5173`, CORS_MAX_AGE_SECONDS: '120' } })

  t.test('a preflight from a listed origin: 204 without a token, the API\'s methods and headers, cached', async (t) => {
    for (const path of ['/v1/download-urls', '/v1/multipart-uploads/abc/parts', '/v1/multipart-uploads/abc']) {
      const asked = app.permissions.received.length
      const res = await fetch(app.url + path, preflight(PAGE, 'authorization, content-type, x-request-id'))
      t.equal(res.status, 204, `${path}: 204`)
      t.equal(res.headers.get('access-control-allow-origin'), PAGE, 'the origin, reflected')
      t.equal(res.headers.get('access-control-allow-methods'), 'GET, HEAD, POST, DELETE')
      t.equal(res.headers.get('access-control-allow-headers'), 'authorization, content-type, x-request-id')
      t.equal(res.headers.get('access-control-max-age'), '120', 'CORS_MAX_AGE_SECONDS')
      t.match(res.headers.get('vary'), /Origin/, 'Vary: Origin')
      t.notOk(res.headers.has('access-control-allow-credentials'), 'no credentials (the token is a header, not a cookie)')
      t.equal(app.permissions.received.length, asked, 'nothing asked')
    }
    const lines = app.logs.filter((line) => line.method === 'OPTIONS')
    t.ok(lines.length >= 3 && lines.every((line) => line.status === 204 && line.level === 30), 'logged as successes, at info')
    const metrics = await (await fetch(app.url + '/metrics')).text()
    t.match(metrics, /method="OPTIONS"[^\n]*status="204"/, 'preflights counted as 204s')
    t.notMatch(metrics, /method="OPTIONS"[^\n]*status="(4|5)\d\d"/, 'no preflight counted as a failure')
  })

  t.test('a preflight from another origin: no Access-Control-Allow-Origin (the browser blocks)', async (t) => {
    for (const origin of [OTHER, 'https://app.example.com.evil.net', 'http://app.example.com', 'null']) {
      const res = await fetch(app.url + '/v1/download-urls', preflight(origin))
      t.equal(res.headers.get('access-control-allow-origin'), null, `${origin}: not allowed`)
    }
  })

  t.test('answers to a listed origin expose the request id, Retry-After and the rate-limit headers; problems too', async (t) => {
    const ok = await postAsAlice(app, '/v1/download-urls', { key: 'a' }, { origin: 'http://127.0.0.1:5173' })
    t.equal(ok.status, 200)
    t.equal(ok.headers.get('access-control-allow-origin'), 'http://127.0.0.1:5173')
    t.equal(ok.headers.get('access-control-expose-headers'), 'x-request-id, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset')
    const problem = await fetch(app.url + '/v1/download-urls', { method: 'POST', headers: { origin: PAGE, 'content-type': 'application/json' }, body: '{"key":"a"}' })
    await expectProblem(t, problem, 401, 'UNAUTHORIZED')
    t.equal(problem.headers.get('access-control-allow-origin'), PAGE, 'a 401 is readable by the page')
    const other = await postAsAlice(app, '/v1/download-urls', { key: 'a' }, { origin: OTHER })
    t.equal(other.headers.get('access-control-allow-origin'), null, 'not for another origin')
  })

  t.test('an OPTIONS without Origin is answered like a preflight, not with an error', async (t) => {
    const res = await fetch(app.url + '/v1/download-urls', { method: 'OPTIONS' })
    t.equal(res.status, 204)
    t.equal(res.headers.get('access-control-allow-methods'), 'GET, HEAD, POST, DELETE')
  })

  t.test('the other wrong-request answers stand', async (t) => {
    const res = await fetch(app.url + '/v1/download-urls', { method: 'GET', headers: { origin: PAGE } })
    await expectProblem(t, res, 405, 'METHOD_NOT_ALLOWED')
    t.equal(res.headers.get('access-control-allow-origin'), PAGE)
    await expectProblem(t, await fetch(app.url + '/v1/nothing', { headers: { origin: PAGE } }), 404, 'NOT_FOUND')
  })
})

t.test('CORS_ORIGINS must list exact origins', async (t) => {
  const base = { ...OFFLINE_STORAGE_ENV, LOG_LEVEL: 'silent', JWT_SECRET: TEST_JWT_SECRET, PERMISSIONS_URL: 'http://127.0.0.1:9/check' }
  for (const value of ['*', 'https://app.example.com/', 'https://app.example.com/path', 'app.example.com', 'ftp://app.example.com', 'https://APP.example.com', 'https://app.example.com:443', `${PAGE},nope`]) {
    const { error } = await configure(t, { ...base, CORS_ORIGINS: value })
    t.ok(error instanceof ConfigError, `${value}: refused`)
    t.same((error as ConfigError).variables, ['CORS_ORIGINS'], 'names CORS_ORIGINS')
  }
  for (const value of [PAGE, `${PAGE}, http://127.0.0.1:8080`, 'http://[::1]:3000']) {
    const { error } = await configure(t, { ...base, CORS_ORIGINS: value })
    t.equal(error, undefined, `${value}: accepted`)
  }
  const { error } = await configure(t, { ...base, CORS_MAX_AGE_SECONDS: '-1' })
  t.same((error as ConfigError).variables, ['CORS_MAX_AGE_SECONDS'], 'CORS_MAX_AGE_SECONDS is bounded')
})
