/**
 * Wrong requests get precise answers (issue 13), over real HTTP: 405 with Allow for a known path
 * asked with another method, 404 problem+json for an unknown path, 431 problem+json for headers
 * over Node's limit, INVALID_KEY naming the broken rule, expiresIn naming SIGNED_URL_MAX_TTL_SECONDS,
 * `__proto__` keys refused by name, and a sweep of wrong bodies over every /v1 route that finds no
 * regular expression or validator phrasing in any detail.
 */
import t from 'tap'
import { connect } from 'node:net'
import { maxHeaderSize } from 'node:http'
import { answerOf, assertProblem, build, call, expectProblem, keyQuery, postAsAlice, uploadPath, type Json } from '../helpers/app.js'
import { bearer, tokenFor } from '../helpers/tokens.js'
import { OBJECT_KEY_RULES } from '../../src/schemas/object-key.js'

const UPLOAD_ID = '2~eTVBiQEBslryxi-1OdiKJF7YeCFINXK'
/** Well-formed (the schema's pattern), so the body's other faults are the ones answered. */
const TOKEN = 'v1.' + 'a'.repeat(20) + '.' + 'b'.repeat(43)

const app = await build(t, { env: { SIGNED_URL_MAX_TTL_SECONDS: '3600' } })

t.test('a known path with another method: 405 METHOD_NOT_ALLOWED with Allow, before any token check', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['GET', '/v1/download-urls', 'POST'],
    ['PUT', '/v1/upload-urls', 'POST'],
    ['DELETE', '/v1/multipart-uploads', 'POST'],
    ['POST', uploadPath(UPLOAD_ID, '/parts'), 'GET, HEAD'],
    ['GET', uploadPath(UPLOAD_ID), 'DELETE'],
    ['PATCH', uploadPath(UPLOAD_ID, '/complete'), 'POST'],
    ['POST', '/healthz', 'GET, HEAD'],
    ['HEAD', '/v1/download-urls', 'POST'],
    ['OPTIONS', '/v1/download-urls', 'POST']
  ]
  for (const [method, path, allow] of cases) {
    const res = await fetch(app.url + path, { method })
    t.equal(res.headers.get('allow'), allow, `${method} ${path}: Allow ${allow}`)
    if (method === 'HEAD') {
      t.equal(res.status, 405, 'HEAD: 405 (no body)')
      t.match(res.headers.get('content-type'), /^application\/problem\+json/)
      continue
    }
    const body = await expectProblem(t, res, 405, 'METHOD_NOT_ALLOWED', `${method} ${path}`)
    t.equal(body.detail, `${method} is not allowed on ${path}; use ${allow.split(', ').filter((m) => m !== 'HEAD').join(' or ')}.`)
  }
})

t.test('the right method still works, HEAD included where GET is', async (t) => {
  t.equal((await fetch(app.url + '/healthz', { method: 'HEAD' })).status, 200, 'HEAD /healthz')
  t.equal((await postAsAlice(app, '/v1/download-urls', { key: 'a' })).status, 200, 'POST /v1/download-urls')
})

t.test('an unknown path: 404 NOT_FOUND problem+json, whatever the method', async (t) => {
  for (const [method, path] of [['GET', '/v1/nothing'], ['POST', '/v2/download-urls'], ['DELETE', '/'], ['OPTIONS', '/nothing'], ['GET', '/v1/download-urls/extra']]) {
    const body = await expectProblem(t, await fetch(app.url + path as string, { method }), 404, 'NOT_FOUND', `${method} ${path}`)
    t.equal(body.detail, `No route for ${method} ${path}.`)
  }
})

/** Sends raw bytes and answers everything the server sends before it closes the socket. */
function rawExchange (port: number, request: string): Promise<{ text: string, closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('close', () => resolve({ text: Buffer.concat(chunks).toString('utf8'), closed: true }))
    socket.setTimeout(5000, () => { socket.destroy(); resolve({ text: Buffer.concat(chunks).toString('utf8'), closed: false }) })
    socket.write(request)
  })
}

t.test('headers over Node\'s limit (a 20 KB Authorization): 431 problem+json, connection closed', async (t) => {
  const huge = 'Bearer ' + 'a'.repeat(20 * 1024)
  const res = await fetch(app.url + '/v1/download-urls', { method: 'POST', headers: { authorization: huge, 'content-type': 'application/json' }, body: '{"key":"a"}' })
  const body = await expectProblem(t, res, 431, 'REQUEST_HEADER_FIELDS_TOO_LARGE')
  t.match(body.detail, `${maxHeaderSize / 1024} KiB`, 'says the limit (Node\'s, 16 KiB by default)')

  const port = Number(new URL(app.url).port)
  const raw = await rawExchange(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: ${huge}\r\n\r\n`)
  t.match(raw.text, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/, 'status line')
  t.match(raw.text, /\r\nConnection: close\r\n/i, 'Connection: close')
  t.ok(raw.closed, 'the server closed the socket')
  t.notMatch(raw.text, /aaaaaaaa/, 'the token is not echoed')

  t.equal((await fetch(app.url + '/healthz')).status, 200, 'the server keeps serving')
})

t.test('INVALID_KEY says which rule failed', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['empty', '', /^body\.key is empty: /],
    ['too long in bytes', 'é'.repeat(513), /^body\.key is 1026 UTF-8 bytes long; at most 1024 are allowed: /],
    ['control character', 'a\u0007b', /^body\.key has a control character \(U\+0007\)/],
    ['C1 control character', 'a\u0085b', /^body\.key has a control character \(U\+0085\)/],
    ['leading slash', '/a', /^body\.key starts with "\/": /],
    ['empty segment', 'a//b', /^body\.key has an empty path segment/],
    ['trailing slash', 'a/', /^body\.key has an empty path segment/],
    ['dot segment', 'a/./b', /^body\.key has a "\." path segment: /],
    ['dot-dot segment', 'a/../b', /^body\.key has a "\.\." path segment: /]
  ]
  for (const [name, key, detail] of cases) {
    const body = await expectProblem(t, await postAsAlice(app, '/v1/download-urls', { key }), 400, 'INVALID_KEY', name)
    t.match(body.detail, detail, `${name}: ${String(body.detail)}`)
    t.ok(String(body.detail).endsWith(`${OBJECT_KEY_RULES}.`), `${name}: and states the rules`)
  }
  const lone = await expectProblem(t, await postAsAlice(app, '/v1/download-urls', '{"key":"a\\ud800b"}'), 400, 'INVALID_KEY', 'lone surrogate')
  t.match(lone.detail, /^body\.key is not well-formed Unicode \(it has a lone surrogate\)/)
  const query = await call(app, 'GET', uploadPath(UPLOAD_ID, '/parts') + keyQuery('a/../b'))
  t.match(assertProblem(t, query, 400, 'INVALID_KEY', 'in a query').detail, /^querystring\.key has a "\.\." path segment/)
  const typed = await expectProblem(t, await postAsAlice(app, '/v1/download-urls', { key: 7 }), 400, 'INVALID_REQUEST', 'a number')
  t.equal(typed.detail, 'body.key must be a string.')
})

t.test('expiresIn above SIGNED_URL_MAX_TTL_SECONDS says that limit, however far above', async (t) => {
  for (const expiresIn of [3601, 604800, 604801, 1e9]) {
    for (const [route, extra] of [['/v1/download-urls', {}], ['/v1/upload-urls', { contentType: 'text/plain', contentLength: 5 }]] as const) {
      const body = await expectProblem(t, await postAsAlice(app, route, { key: 'a', expiresIn, ...extra }), 400, 'INVALID_EXPIRES_IN', `${route} ${expiresIn}`)
      t.equal(body.detail, 'body.expiresIn must be at most 3600 seconds (SIGNED_URL_MAX_TTL_SECONDS).')
    }
  }
  const zero = await expectProblem(t, await postAsAlice(app, '/v1/download-urls', { key: 'a', expiresIn: 0 }), 400, 'INVALID_EXPIRES_IN')
  t.equal(zero.detail, 'body.expiresIn must be at least 1.')
})

t.test('a __proto__ or constructor.prototype key: 400 saying the key is not allowed (it is valid JSON)', async (t) => {
  const cases: Array<[string, string]> = [
    ['{"key":"a","__proto__":{"polluted":true}}', 'body.__proto__'],
    ['{"key":"a","bucket":{"__proto__":1}}', 'body.bucket.__proto__'],
    ['{"key":"a","partNumbers":[{"constructor":{"prototype":{"polluted":true}}}]}', 'body.partNumbers.0.constructor.prototype'],
    // Spelled with \u escapes (JSON.parse decodes them): the text holds neither word, still refused.
    ['{"key":"a","\\u005f_proto__":{"polluted":true}}', 'body.__proto__'],
    ['{"key":"a","items":[{"\\u0063onstructor":{"prototype":{}}}]}', 'body.items.0.constructor.prototype']
  ]
  for (const [text, where] of cases) {
    const body = await expectProblem(t, await postAsAlice(app, '/v1/download-urls', text), 400, 'INVALID_REQUEST', where)
    t.match(body.detail, new RegExp(`^${where.replaceAll('.', '\\.')} is not allowed`), String(body.detail))
    t.notMatch(body.detail, /not valid JSON/)
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'nothing polluted')
  const invalid = await expectProblem(t, await postAsAlice(app, '/v1/download-urls', '{"key": "a"'), 400, 'INVALID_REQUEST')
  t.equal(invalid.detail, 'The body is not valid JSON.', 'broken JSON still says so')
  const deep = await expectProblem(t, await postAsAlice(app, '/v1/download-urls', '['.repeat(30000) + ']'.repeat(30000)), 400, 'INVALID_REQUEST', 'deeply nested')
  t.equal(deep.detail, 'body must be a JSON object.')
})

/**
 * Validator phrasing that must never reach a caller: Ajv's messages ("must have required property",
 * "must NOT have", "must match pattern", "must be equal to one of", "items ## 1 and 0 are identical",
 * "must match format", "must be <=") and anything that looks like a regular expression.
 */
const VALIDATOR_PHRASES = /must have required|must NOT|must match|must be equal to|are identical|##|must be [<>]=?|must pass|should |\^\[|\[A-Z|\\x[0-9a-f]{2}|\(\?:|\{\d+,\d*\}|\$"|\/\^/

t.test('sweep: no detail of a wrong body quotes a regular expression or validator phrasing', async (t) => {
  const values: unknown[] = [null, true, 1.5, -1, 0, 1e21, '', ' ', 'x'.repeat(2000), 'Ab C/', '/a', 'a//b', '\u0000', [], [1, 1], ['a'], {}, { a: 1 }]
  const bodies = (fields: string[], valid: Json): Json[] => [
    {},
    ...fields.flatMap((field) => values.map((value) => ({ ...valid, [field]: value }))),
    { ...valid, unknown: 1 }
  ]
  const routes: Array<{ method: string, path: string, fields: string[], valid: Json }> = [
    { method: 'POST', path: '/v1/download-urls', fields: ['key', 'bucket', 'expiresIn', 'method', 'disposition', 'filename', 'contentType'], valid: { key: 'a' } },
    { method: 'POST', path: '/v1/upload-urls', fields: ['key', 'bucket', 'expiresIn', 'contentType', 'contentLength', 'contentMd5'], valid: { key: 'a', contentType: 'text/plain', contentLength: 5 } },
    { method: 'POST', path: '/v1/multipart-uploads', fields: ['key', 'bucket', 'contentType', 'size', 'partSize'], valid: { key: 'a', contentType: 'video/mp4', size: 1048576 } },
    { method: 'POST', path: uploadPath(UPLOAD_ID, '/part-urls'), fields: ['key', 'bucket', 'expiresIn', 'partNumbers'], valid: { key: 'a', partNumbers: [1], uploadToken: TOKEN } },
    { method: 'POST', path: uploadPath(UPLOAD_ID, '/complete'), fields: ['key', 'bucket', 'parts'], valid: { key: 'a', parts: [{ partNumber: 1, etag: '"x"' }], uploadToken: TOKEN } }
  ]
  const extra: Array<[string, string, unknown]> = [
    ['POST', uploadPath(UPLOAD_ID, '/part-urls'), { key: 'a', partNumbers: [1, 2, 1], uploadToken: TOKEN }],
    ['POST', uploadPath(UPLOAD_ID, '/part-urls'), { key: 'a', partNumbers: Array.from({ length: 1001 }, (_, i) => i + 1), uploadToken: TOKEN }],
    ['POST', uploadPath(UPLOAD_ID, '/complete'), { key: 'a', parts: [{ partNumber: 1, etag: 'a b' }] }],
    ['POST', uploadPath(UPLOAD_ID, '/complete'), { key: 'a', parts: [{ partNumber: 1 }] }],
    ['POST', uploadPath(UPLOAD_ID, '/complete'), { key: 'a', parts: [{ partNumber: 1, etag: '"x"', size: 1 }] }],
    ['POST', uploadPath('bad id!', '/complete'), { key: 'a', parts: [{ partNumber: 1, etag: '"x"' }] }],
    ['GET', uploadPath(UPLOAD_ID, '/parts'), undefined],
    ['GET', uploadPath(UPLOAD_ID, '/parts') + '?key=a&bucket=Not_A_Bucket', undefined],
    ['GET', uploadPath(UPLOAD_ID, '/parts') + '?key=a&other=1', undefined],
    ['DELETE', uploadPath(UPLOAD_ID) + '?key=..', undefined],
    ['DELETE', uploadPath('a'.repeat(1100)) + '?key=a', undefined]
  ]
  const requests: Array<[string, string, unknown]> = [
    ...routes.flatMap(({ method, path, fields, valid }) => bodies(fields, valid).map((body): [string, string, unknown] => [method, path, body])),
    ...extra
  ]
  let checked = 0
  const offending: string[] = []
  for (const [method, path, body] of requests) {
    const answer = await call(app, method, path, body)
    if (answer.status === 200 || answer.status === 503) continue // valid after all (the sweep's values are not all wrong everywhere), or storage is absent
    checked++
    t.equal(answer.status, 400, `${method} ${path} ${JSON.stringify(body)?.slice(0, 80)}: 400`)
    const detail = String(answer.body.detail)
    if (VALIDATOR_PHRASES.test(detail)) offending.push(`${method} ${path} ${JSON.stringify(body)?.slice(0, 80)} → ${detail}`)
  }
  t.ok(checked > 200, `${checked} wrong requests answered 400`)
  t.same(offending, [], 'no detail quotes a regular expression or validator phrasing')
})

t.test('the phrasing of common mistakes', async (t) => {
  const detailOf = async (method: string, path: string, body?: unknown) => String((await call(app, method, path, body)).body.detail)
  t.equal(await detailOf('POST', '/v1/download-urls', {}), 'body is missing the required property "key".')
  t.equal(await detailOf('POST', uploadPath(UPLOAD_ID, '/part-urls'), { key: 'a', partNumbers: [1, 2, 1], uploadToken: TOKEN }), 'body.partNumbers must not list the same value twice (items 0 and 2 are the same).')
  t.equal(await detailOf('POST', '/v1/download-urls', { key: 'a', bucket: 'Bad_Bucket' }), 'body.bucket must be a bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit.')
  t.equal(await detailOf('POST', '/v1/upload-urls', { key: 'a', contentType: 'video', contentLength: 5 }), 'body.contentType must be a media type such as "video/mp4" or "text/plain; charset=utf-8".')
  t.equal(await detailOf('POST', '/v1/download-urls', { key: 'a', method: 'PUT' }), 'body.method must be one of "GET", "HEAD".')
  t.equal(await detailOf('POST', uploadPath(UPLOAD_ID, '/part-urls'), { key: 'a', partNumbers: [], uploadToken: TOKEN }), 'body.partNumbers must list at least 1 item.')
})

t.test('a token is still required for a well-formed request to a known route', async (t) => {
  const res = await fetch(app.url + '/v1/download-urls', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"key":"a"}' })
  await expectProblem(t, res, 401, 'UNAUTHORIZED')
  t.ok(bearer(tokenFor('alice')).authorization.startsWith('Bearer '), 'the helper token is a bearer token')
  await answerOf(res).catch(() => undefined)
})

t.test('a file name that breaks its rules says them', async (t) => {
  const body = await expectProblem(t, await postAsAlice(app, '/v1/download-urls', { key: 'a', filename: 'a/b.pdf' }), 400, 'INVALID_REQUEST')
  t.equal(body.detail, 'body.filename must be a file name: well-formed Unicode without control characters, "/" or "\\".')
})
