/**
 * The example media app's backend (examples/media-app) without a browser or storage: what it asks
 * r2-signer for, with which token, and how it relays the answers. A stub plays r2-signer.
 * The browser flows themselves are in test/e2e/browser.test.ts.
 */
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import { createVerifier } from 'fast-jwt'
import { buildMediaApp, safeFileName } from '../../examples/media-app/server.js'
import { corsRules, targetFromEnv } from '../../examples/media-app/apply-cors.js'
import { samplePdf } from '../../examples/media-app/sample-pdf.js'

const MiB = 1024 * 1024
const secret = randomBytes(32).toString('hex')

interface Call { method: string, url: string, authorization?: string, body: unknown }

/** A stand-in r2-signer that records every call and answers what the test sets. */
async function stubSigner (t: Test) {
  const calls: Call[] = []
  let answer: (call: Call) => { status: number, body?: unknown } = (call) => ({
    status: call.url === '/v1/multipart-uploads' ? 201 : 200,
    body: call.url === '/v1/multipart-uploads'
      ? { uploadId: '2~abc', bucket: 'media', key: (call.body as { key: string }).key, partSize: 6 * MiB, partCount: 4, uploadToken: 'v1.plan.mac' }
      : { url: 'http://storage.example/media/x?X-Amz-Signature=0', method: 'GET', headers: { 'content-type': 'video/webm' }, bucket: 'media', key: (call.body as { key?: string } | undefined)?.key ?? '', expiresIn: 300, expiresAt: new Date(Date.now() + 300_000).toISOString() }
  })
  const signer = Fastify()
  signer.all('/*', async (request, reply) => {
    const call = { method: request.method, url: request.url, authorization: request.headers.authorization, body: request.body }
    calls.push(call)
    const { status, body } = answer(call)
    return reply.code(status).type(status >= 400 ? 'application/problem+json' : 'application/json').send(body)
  })
  const signerUrl = await signer.listen({ host: '127.0.0.1', port: 0 })
  const app = await buildMediaApp({
    signerUrl,
    jwtSecret: secret,
    multipartThresholdBytes: 8 * MiB,
    partSizeBytes: 6 * MiB,
    tasks: [{ taskId: 'T-1', title: 'Brief', pdfKey: 'public/tasks/T-1/brief.pdf' }]
  })
  t.teardown(async () => { await app.close(); await signer.close() })
  const login = await app.inject({ method: 'POST', url: '/api/login', payload: { user: 'alice' } })
  const cookie = String(login.headers['set-cookie']).split(';')[0] as string
  return {
    app,
    calls,
    cookie,
    respond (next: typeof answer) { answer = next },
    as: (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) => app.inject({ method, url, payload, headers: { cookie } })
  }
}

t.test('sign-in: an httpOnly session cookie; every API route needs it', async (t) => {
  const { app, cookie, as } = await stubSigner(t)
  const login = await app.inject({ method: 'POST', url: '/api/login', payload: { user: 'alice' } })
  t.match(login.headers['set-cookie'], /^media_session=[\w-]{43}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=\d+$/)
  t.equal((await app.inject({ method: 'POST', url: '/api/login', payload: { user: '../bob' } })).statusCode, 400, 'user names are single safe path segments')
  t.same((await app.inject({ method: 'GET', url: '/api/me' })).json(), { user: null }, 'no session: no user (and no 401 on a first visit)')
  t.same((await as('GET', '/api/me')).json(), { user: 'alice' })
  const anonymous = await app.inject({ method: 'GET', url: '/api/media-url?key=users/alice/a.webm' })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.equal((await app.inject({ method: 'POST', url: '/api/logout', headers: { cookie } })).statusCode, 204)
  t.equal((await as('GET', '/api/files')).statusCode, 401, 'signed out: the session is gone')

  const page = await app.inject({ method: 'GET', url: '/' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-security-policy'], /default-src 'self'/)
  t.match(page.body, /<script type="module" src="\/app\.js"><\/script>/)
})

t.test('uploads: one PUT URL up to the threshold, multipart above it, keys in the user\'s namespace', async (t) => {
  const { calls, as } = await stubSigner(t)
  const single = await as('POST', '/api/uploads', { name: 'clip.webm', contentType: 'video/webm', size: 8 * MiB })
  t.equal(single.statusCode, 200)
  t.match(single.json(), { mode: 'single', key: 'users/alice/clip.webm', url: /^http:\/\/storage\.example\//, headers: { 'content-type': 'video/webm' } })
  t.match(calls.at(-1), { method: 'POST', url: '/v1/upload-urls', body: { key: 'users/alice/clip.webm', contentType: 'video/webm', contentLength: 8 * MiB } }, 'the length is signed')

  const token = (calls.at(-1)?.authorization ?? '').replace(/^Bearer /, '')
  const claims = createVerifier({ key: secret, algorithms: ['HS256'] })(token) as { sub: string, exp: number, iat: number }
  t.equal(claims.sub, 'alice', 'r2-signer gets the user\'s JWT, signed with the shared secret')
  t.equal(claims.exp - claims.iat, 300, 'short-lived')

  const big = await as('POST', '/api/uploads', { name: 'a/../../b\u0000.bin', contentType: '', size: 8 * MiB + 1 })
  t.match(big.json(), { mode: 'multipart', key: 'users/alice/a_.._.._b_.bin', uploadId: '2~abc', partSize: 6 * MiB, partCount: 4, uploadToken: 'v1.plan.mac', concurrency: 3 }, 'a file name never leaves the namespace; the uploadToken goes to the page')
  t.match(calls.at(-1), { url: '/v1/multipart-uploads', body: { key: 'users/alice/a_.._.._b_.bin', contentType: 'application/octet-stream', size: 8 * MiB + 1, partSize: 6 * MiB } })

  await as('POST', '/api/uploads/2~abc%2Fx/part-urls', { key: 'users/alice/a.bin', uploadToken: 'v1.plan.mac', partNumbers: [2] })
  t.match(calls.at(-1), { url: '/v1/multipart-uploads/2~abc%2Fx/part-urls', body: { key: 'users/alice/a.bin', uploadToken: 'v1.plan.mac', partNumbers: [2], expiresIn: 600 } }, 'the upload ID stays one path segment; the uploadToken is passed on')
  t.equal((await as('POST', '/api/uploads/2~abc/part-urls', { key: 'users/alice/a.bin', partNumbers: [2] })).statusCode, 400, 'no uploadToken: refused before r2-signer')
  await as('POST', '/api/uploads/2~abc/complete', { key: 'users/alice/a.bin', uploadToken: 'v1.plan.mac', parts: [{ partNumber: 1, etag: '"e"' }] })
  t.match(calls.find((call) => call.url === '/v1/multipart-uploads/2~abc/complete'), { body: { key: 'users/alice/a.bin', uploadToken: 'v1.plan.mac', parts: [{ partNumber: 1, etag: '"e"' }] } }, 'complete passes it on too')
  await as('DELETE', '/api/uploads/2~abc?key=users%2Falice%2Fa%20b.bin')
  t.match(calls.at(-1), { method: 'DELETE', url: '/v1/multipart-uploads/2~abc?key=users%2Falice%2Fa%20b.bin' })
})

t.test('r2-signer\'s refusals reach the page as problem+json; its 401 is the backend\'s fault', async (t) => {
  const { as, respond } = await stubSigner(t)
  respond(() => ({ status: 403, body: { type: 'urn:r2-signer:problem:permission-denied', title: 'Permission denied', status: 403, detail: 'Not allowed to read this object.', code: 'PERMISSION_DENIED' } }))
  const denied = await as('GET', '/api/media-url?key=users/bob/x.webm')
  t.equal(denied.statusCode, 403)
  t.match(denied.json(), { code: 'PERMISSION_DENIED', detail: 'Not allowed to read this object.' })

  respond(() => ({ status: 401, body: { title: 'Unauthorized', status: 401, code: 'UNAUTHORIZED' } }))
  const misconfigured = await as('GET', '/api/v1/tasks/T-1')
  t.equal(misconfigured.statusCode, 502, 'a token r2-signer refuses is not the user\'s problem: no 401 to the page')

  t.equal((await as('GET', '/api/v1/tasks/T-404')).statusCode, 404, 'unknown task')
})

t.test('r2-signer unreachable: 502', async (t) => {
  const app = await buildMediaApp({ signerUrl: 'http://127.0.0.1:9', jwtSecret: secret })
  t.teardown(() => app.close())
  const login = await app.inject({ method: 'POST', url: '/api/login', payload: { user: 'alice' } })
  const cookie = String(login.headers['set-cookie']).split(';')[0] as string
  const response = await app.inject({ method: 'GET', url: '/api/media-url?key=users/alice/a', headers: { cookie } })
  t.equal(response.statusCode, 502)
  t.match(response.json(), { title: 'Signing service unreachable' })
})

t.test('the task\'s PDF URL is signed inline, as application/pdf', async (t) => {
  const { calls, as } = await stubSigner(t)
  const task = await as('GET', '/api/v1/tasks/T-1')
  t.match(task.json(), { taskId: 'T-1', title: 'Brief', descriptionPdfUrl: /^http:\/\/storage\.example\//, expiresIn: 300 })
  t.match(calls.at(-1), { url: '/v1/download-urls', body: { key: 'public/tasks/T-1/brief.pdf', disposition: 'inline', contentType: 'application/pdf', filename: 'T-1.pdf', expiresIn: 300 } })
})

t.test('HLS: the URLs for a playlist\'s keys come from ONE r2-signer batch call, refusals item by item', async (t) => {
  const { calls, as, respond } = await stubSigner(t)
  const keys = ['users/alice/s/segment000.ts', 'users/alice/s/segment001.ts', 'users/bob/s/segment002.ts']
  respond((call) => ({
    status: 200,
    body: {
      items: (call.body as { items: Array<{ key: string }> }).items.map(({ key }) => key.startsWith('users/bob/')
        ? { status: 403, problem: { type: 'urn:r2-signer:problem:permission-denied', title: 'Permission denied', status: 403, detail: 'Not allowed to read this object.', code: 'PERMISSION_DENIED' } }
        : { status: 200, url: `http://storage.example/media/${key}?X-Amz-Signature=1`, method: 'GET', headers: {}, bucket: 'media', key, expiresIn: 300, expiresAt: '2026-01-01T00:05:00.000Z' })
    }
  }))
  const answer = await as('POST', '/api/hls-urls', { keys })
  t.equal(answer.statusCode, 200)
  t.equal(answer.headers['cache-control'], 'no-store', 'signed URLs are never cached')
  t.equal(calls.length, 1, 'one call to r2-signer')
  t.match(calls[0], { method: 'POST', url: '/v1/batch', body: { items: keys.map((key) => ({ op: 'download', key })), expiresIn: 300 } })
  t.same(answer.json(), {
    items: [
      { status: 200, key: keys[0], url: `http://storage.example/media/${keys[0]}?X-Amz-Signature=1`, expiresIn: 300, expiresAt: '2026-01-01T00:05:00.000Z' },
      { status: 200, key: keys[1], url: `http://storage.example/media/${keys[1]}?X-Amz-Signature=1`, expiresIn: 300, expiresAt: '2026-01-01T00:05:00.000Z' },
      { status: 403, key: keys[2], problem: { type: 'urn:r2-signer:problem:permission-denied', title: 'Permission denied', status: 403, detail: 'Not allowed to read this object.', code: 'PERMISSION_DENIED' } }
    ]
  }, 'each item answered on its own, in request order, with its key')

  respond(() => ({ status: 200, body: { items: [] } }))
  const short = await as('POST', '/api/hls-urls', { keys })
  t.equal(short.statusCode, 502, 'an answer of the wrong length is r2-signer\'s fault, not a list to trust')
  t.match(short.json(), { detail: 'Asked for 3 URLs, got 0.' })

  respond(() => ({ status: 200, body: { items: [null, { status: 200 }, { status: 200, url: 'http://storage.example/x' }] } }))
  t.match((await as('POST', '/api/hls-urls', { keys })).json(), { items: [{ status: 502, key: keys[0] }, { status: 502, key: keys[1] }, { status: 200, key: keys[2] }] }, 'a malformed item is a failed item, not a URL')
  respond(() => ({ status: 200, body: { nothing: true } }))
  t.equal((await as('POST', '/api/hls-urls', { keys })).statusCode, 502, 'no list at all: 502')

  respond(() => ({ status: 401, body: { title: 'Unauthorized', status: 401, code: 'UNAUTHORIZED' } }))
  t.equal((await as('POST', '/api/hls-urls', { keys })).statusCode, 502, 'a refused token fails the whole call')

  const before = calls.length
  t.equal((await as('POST', '/api/hls-urls', { keys: [] })).statusCode, 400, 'at least one key')
  t.equal((await as('POST', '/api/hls-urls', { keys: Array.from({ length: 1001 }, (_, i) => `k${i}`) })).statusCode, 400, 'at most 1000 keys')
  t.equal((await as('POST', '/api/hls-urls', { keys: ['a', 'a'] })).statusCode, 400, 'no key twice')
  t.equal(calls.length, before, 'none of those reached r2-signer')
})

t.test('object status: a HEAD URL tells "not found" from "there" without moving bytes', async (t) => {
  const { calls, as, respond } = await stubSigner(t)
  // The stub plays storage too: the HEAD URL points back at it.
  const storage = Fastify()
  const heads: string[] = []
  storage.head('/media/*', async (request, reply) => {
    heads.push(request.url)
    return request.url.includes('missing') ? reply.code(404).send() : reply.header('content-type', 'video/webm').header('content-length', '1234').send()
  })
  const storageUrl = await storage.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => storage.close())
  respond((call) => ({ status: 200, body: { url: `${storageUrl}/media/${(call.body as { key: string }).key}`, method: 'HEAD', headers: {}, bucket: 'media', key: (call.body as { key: string }).key, expiresIn: 60, expiresAt: '' } }))

  const there = await as('GET', '/api/object-status?key=users/alice/a.webm')
  t.same(there.json(), { key: 'users/alice/a.webm', status: 200, exists: true, size: 1234, contentType: 'video/webm' })
  t.match(calls.at(-1), { url: '/v1/download-urls', body: { key: 'users/alice/a.webm', method: 'HEAD', expiresIn: 60 } }, 'a HEAD URL')
  t.same((await as('GET', '/api/object-status?key=users/alice/missing.webm')).json(), { key: 'users/alice/missing.webm', status: 404, exists: false })
  t.same(heads, ['/media/users/alice/a.webm', '/media/users/alice/missing.webm'], 'storage was asked with HEAD')
})

t.test('the page can load hls.js from node_modules, and play what it fetches into a Media Source', async (t) => {
  const { app } = await stubSigner(t)
  const hls = await app.inject({ method: 'GET', url: '/vendor/hls.mjs' })
  t.equal(hls.statusCode, 200)
  t.match(hls.headers['content-type'], /^text\/javascript/)
  t.match(hls.body, /export\s*\{[^}]*\bas default\b/, 'an ES module with a default export')
  const page = await app.inject({ method: 'GET', url: '/' })
  t.match(page.headers['content-security-policy'], /media-src http: https: blob:;/, 'blob: media for hls.js\'s MediaSource')
})

t.test('file names become one safe key segment', async (t) => {
  t.equal(safeFileName('holiday 2026 (final).mp4'), 'holiday 2026 (final).mp4')
  t.equal(safeFileName('Übersicht.pdf'), 'Übersicht.pdf')
  t.equal(safeFileName('a/b\\c'), 'a_b_c')
  t.equal(safeFileName('..'), 'file')
  t.equal(safeFileName('   '), 'file')
})

t.test('the CORS rule: what a browser needs, for real origins only', async (t) => {
  t.same(corsRules(['https://app.example.com']), [{
    AllowedOrigins: ['https://app.example.com'],
    AllowedMethods: ['GET', 'HEAD', 'PUT'],
    AllowedHeaders: ['content-type', 'content-md5', 'if-none-match', 'range'],
    ExposeHeaders: ['ETag', 'Content-Length', 'Content-Range', 'Accept-Ranges'],
    MaxAgeSeconds: 3600
  }])
  t.throws(() => corsRules(['https://app.example.com/']), /not an origin/, 'no trailing slash')
  t.throws(() => corsRules([]), /at least one origin/)
  t.match(targetFromEnv({ R2_ACCOUNT_ID: 'abc', S3_ACCESS_KEY_ID: 'k', S3_SECRET_ACCESS_KEY: 's', S3_BUCKET: 'media' }), { endpoint: 'https://abc.r2.cloudflarestorage.com', region: 'auto', forcePathStyle: true })
  t.throws(() => targetFromEnv({}), /missing: S3_ENDPOINT or R2_ACCOUNT_ID, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_BUCKET/)
})

t.test('the sample PDF is well formed: its cross-reference table points at its objects', async (t) => {
  const pdf = samplePdf({ title: 'Über (tasks)', lines: ['one', 'two'] }).toString('latin1')
  t.match(pdf, /^%PDF-1\.4\n/)
  t.match(pdf, /%%EOF\n$/)
  const startxref = Number(/startxref\n(\d+)\n/.exec(pdf)?.[1])
  t.equal(pdf.slice(startxref, startxref + 4), 'xref')
  const offsets = [...pdf.slice(startxref).matchAll(/^(\d{10}) 00000 n $/gm)].map((m) => Number(m[1]))
  t.equal(offsets.length, 7)
  offsets.forEach((offset, i) => t.equal(pdf.slice(offset, offset + `${i + 1} 0 obj`.length), `${i + 1} 0 obj`, `object ${i + 1}`))
  t.match(pdf, /\(\?ber \\\(tasks\\\)\) Tj/, 'text escaped; non-ASCII replaced')
  t.match(pdf, /trailer\n<< \/Size 8 \/Root 1 0 R \/Info 7 0 R >>/, 'with a document title for the viewer\'s toolbar')
  t.match(pdf, /7 0 obj\n<< \/Title \(\?ber \\\(tasks\\\)\) >>/)
  const length = Number(/\/Length (\d+) >>\nstream\n/.exec(pdf)?.[1])
  const stream = /stream\n([\s\S]*?)\nendstream/.exec(pdf)?.[1] ?? ''
  t.equal(stream.length, length, 'the content stream has its declared length')
})
