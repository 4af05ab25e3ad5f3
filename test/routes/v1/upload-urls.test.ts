/**
 * POST /v1/upload-urls over real HTTP: PUT URLs bound to content type, length, MD5 and
 * write-once, the upload policy (UPLOAD_MAX_BYTES, UPLOAD_CONTENT_TYPES and the permission
 * service's limits, cached or not), and their validation. Rules shared with download URLs (keys, expiresIn, bodies, buckets) are in
 * ./signed-urls.test.ts.
 */
import { createHash } from 'node:crypto'
import t from 'tap'
import { build, expectOk, expectProblem, postAsAlice } from '../../helpers/app.js'
import { json } from '../../helpers/permission-stub.js'
import { assertNoChecksumParams, md5, urlQuery } from '../../helpers/signed-urls.js'

type Body = Record<string, unknown>
const UPLOAD = '/v1/upload-urls'
const GIB = 1024 ** 3

t.test('upload URLs', async (t) => {
  const app = await build(t)

  t.test('content-type and content-length: headers and X-Amz-SignedHeaders', async (t) => {
    const started = Date.now()
    const body = await expectOk(t, await postAsAlice(app, UPLOAD, { key: 'users/alice/clip.mp4', contentType: 'video/mp4', contentLength: 1024 }))
    t.same(Object.keys(body).sort(), ['bucket', 'expiresAt', 'expiresIn', 'headers', 'key', 'method', 'url'])
    t.match(body, { method: 'PUT', bucket: 'media', key: 'users/alice/clip.mp4', expiresIn: 300 })
    t.same(body.headers, { 'content-type': 'video/mp4', 'content-length': '1024' }, 'exactly content-type and content-length')
    t.same((urlQuery(body.url).get('X-Amz-SignedHeaders') as string).split(';').sort(), ['content-length', 'content-type', 'host'])
    t.ok(Math.abs(Date.parse(body.expiresAt as string) - (started + 300_000)) < 5_000, 'expiresAt ≈ now + expiresIn')
    assertNoChecksumParams(t, body.url)
  })

  t.test('content-type, content-length and content-md5', async (t) => {
    const contentMd5 = md5('hello')
    const body = await expectOk(t, await postAsAlice(app, UPLOAD, { key: 'a.txt', contentType: 'text/plain; charset=utf-8', contentLength: 5, contentMd5 }))
    t.same(body.headers, { 'content-type': 'text/plain; charset=utf-8', 'content-length': '5', 'content-md5': contentMd5 })
    t.same((urlQuery(body.url).get('X-Amz-SignedHeaders') as string).split(';').sort(), ['content-length', 'content-md5', 'content-type', 'host'])
    assertNoChecksumParams(t, body.url)
  })

  t.test('content-length 0 and 5 GiB are allowed', async (t) => {
    for (const contentLength of [0, 5 * GIB]) {
      const body = await expectOk(t, await postAsAlice(app, UPLOAD, { key: 'a.bin', contentType: 'application/octet-stream', contentLength }))
      t.same(body.headers, { 'content-type': 'application/octet-stream', 'content-length': String(contentLength) })
      t.same((urlQuery(body.url).get('X-Amz-SignedHeaders') as string).split(';').sort(), ['content-length', 'content-type', 'host'])
    }
  })

  t.test('writeOnce signs if-none-match: *', async (t) => {
    const body = await expectOk(t, await postAsAlice(app, UPLOAD, { key: 'a.bin', contentType: 'application/octet-stream', contentLength: 0, writeOnce: true }))
    t.same(body.headers, { 'content-type': 'application/octet-stream', 'content-length': '0', 'if-none-match': '*' })
    t.equal(urlQuery(body.url).get('X-Amz-SignedHeaders'), 'content-length;content-type;host;if-none-match')
    const plain = await expectOk(t, await postAsAlice(app, UPLOAD, { key: 'a.bin', contentType: 'application/octet-stream', contentLength: 0, writeOnce: false }))
    t.notOk('if-none-match' in (plain.headers as object), 'writeOnce: false signs none')
  })

  const invalid: Array<[string, Body]> = [
    ['no contentType', { key: 'a', contentLength: 1 }],
    ['no contentLength', { key: 'a', contentType: 'text/plain' }],
    ['writeOnce not a boolean', { key: 'a', contentType: 'text/plain', contentLength: 1, writeOnce: 'yes' }],
    ['contentType with CR/LF injection', { key: 'a', contentType: 'text/plain\r\nx-evil: 1' }],
    ['contentType with LF', { key: 'a', contentType: 'text/plain\nx-evil: 1' }],
    ['contentType with a trailing CR/LF', { key: 'a', contentType: 'text/plain\r\n' }],
    ['contentType without subtype', { key: 'a', contentType: 'text' }],
    ['contentType empty', { key: 'a', contentType: '' }],
    ['contentType with spaces in the type', { key: 'a', contentType: 'text /plain' }],
    ['contentType non-ASCII', { key: 'a', contentType: 'text/pläin' }],
    ['contentMd5 not base64', { key: 'a', contentType: 'text/plain', contentMd5: 'not-an-md5' }],
    ['contentMd5 hex', { key: 'a', contentType: 'text/plain', contentMd5: createHash('md5').update('x').digest('hex') }],
    ['contentMd5 of 15 bytes', { key: 'a', contentType: 'text/plain', contentMd5: Buffer.alloc(15).toString('base64') }],
    ['contentMd5 of 17 bytes', { key: 'a', contentType: 'text/plain', contentMd5: Buffer.alloc(17).toString('base64') }],
    ['contentMd5 of 32 bytes (SHA-256)', { key: 'a', contentType: 'text/plain', contentMd5: createHash('sha256').update('x').digest('base64') }],
    ['contentMd5 with CR/LF', { key: 'a', contentType: 'text/plain', contentMd5: `${md5('x')}\r\nx-evil: 1` }],
    ['contentLength negative', { key: 'a', contentType: 'text/plain', contentLength: -1 }],
    ['contentLength above 5 GiB', { key: 'a', contentType: 'text/plain', contentLength: 5 * GIB + 1 }],
    ['contentLength fractional', { key: 'a', contentType: 'text/plain', contentLength: 1.5 }],
    ['unknown property (acl)', { key: 'a', contentType: 'text/plain', acl: 'public-read' }],
    ['unknown property (headers)', { key: 'a', contentType: 'text/plain', headers: { 'x-amz-acl': 'public-read' } }],
    ['download-only option', { key: 'a', contentType: 'text/plain', disposition: 'inline' }]
  ]
  for (const [name, body] of invalid) {
    t.test(`${name} → 400 INVALID_REQUEST`, async (t) => {
      const before = app.permissions.received.length
      await expectProblem(t, await postAsAlice(app, UPLOAD, body), 400, 'INVALID_REQUEST')
      t.equal(app.permissions.received.length, before, 'permission service not asked')
    })
  }
})

/** An app whose permission service allows with `limits` (and a Cache-Control when given). */
async function limitedApp (t: Parameters<typeof build>[0], limits: unknown, options: { env?: Record<string, string>, cacheControl?: string } = {}) {
  return await build(t, {
    env: options.env,
    permissions: (_check, res) => json(res, 200, { allowed: true, limits }, options.cacheControl === undefined ? {} : { 'cache-control': options.cacheControl })
  })
}

const upload = (key: string, contentLength: number, contentType = 'image/png', extra: Body = {}) => ({ key, contentType, contentLength, ...extra })

t.test('the deployment ceiling: UPLOAD_MAX_BYTES → 413 UPLOAD_TOO_LARGE, UPLOAD_CONTENT_TYPES → 403 CONTENT_TYPE_NOT_ALLOWED', async (t) => {
  const app = await build(t, { env: { UPLOAD_MAX_BYTES: '1000', UPLOAD_CONTENT_TYPES: 'image/*, application/PDF' } })
  await expectOk(t, await postAsAlice(app, UPLOAD, upload('a.png', 1000)))
  const tooLarge = await expectProblem(t, await postAsAlice(app, UPLOAD, upload('a.png', 1001)), 413, 'UPLOAD_TOO_LARGE')
  t.match(tooLarge.detail, /1001 bytes; at most 1000 bytes/, 'the detail names the limit')
  await expectOk(t, await postAsAlice(app, UPLOAD, upload('a.pdf', 10, 'Application/Pdf; charset=binary')))
  const refused = await expectProblem(t, await postAsAlice(app, UPLOAD, upload('a.html', 10, 'text/html')), 403, 'CONTENT_TYPE_NOT_ALLOWED')
  t.match(refused.detail, /text\/html.*image\/\*, application\/pdf/)
  await expectProblem(t, await postAsAlice(app, UPLOAD, upload('a.svg', 10, 'imagex/png')), 403, 'CONTENT_TYPE_NOT_ALLOWED', 'a prefix is not a type')
})

t.test('limits from the permission answer: the tighter of answer and ceiling, write-once forced', async (t) => {
  const app = await limitedApp(t, { maxBytes: 2048, contentTypes: ['image/*', 'text/plain'], writeOnce: true }, { env: { UPLOAD_MAX_BYTES: '4096', UPLOAD_CONTENT_TYPES: 'image/png,text/plain' } })
  const ok = await expectOk(t, await postAsAlice(app, UPLOAD, upload('a.png', 2048, 'image/png', { writeOnce: false })))
  t.equal((ok.headers as Record<string, string>)['if-none-match'], '*', 'the policy\'s write-once cannot be switched off by the request')
  await expectProblem(t, await postAsAlice(app, UPLOAD, upload('a.png', 2049)), 413, 'UPLOAD_TOO_LARGE', 'the answer is tighter than the ceiling')
  await expectProblem(t, await postAsAlice(app, UPLOAD, upload('a.gif', 10, 'image/gif')), 403, 'CONTENT_TYPE_NOT_ALLOWED', 'allowed by the answer, not by the ceiling')
  await expectOk(t, await postAsAlice(app, UPLOAD, upload('a.txt', 10, 'text/plain')))

  const loose = await limitedApp(t, { maxBytes: 1_000_000 }, { env: { UPLOAD_MAX_BYTES: '4096' } })
  await expectProblem(t, await postAsAlice(loose, UPLOAD, upload('a.png', 4097)), 413, 'UPLOAD_TOO_LARGE', 'the ceiling is tighter than the answer')
  const plain = await expectOk(t, await postAsAlice(loose, UPLOAD, upload('a.png', 4096)))
  t.notOk('if-none-match' in (plain.headers as object), 'no write-once unless asked')
})

t.test('a cached decision keeps its limits', async (t) => {
  const app = await limitedApp(t, { maxBytes: 100, contentTypes: ['image/png'] }, { cacheControl: 'max-age=60' })
  await expectOk(t, await postAsAlice(app, UPLOAD, upload('users/alice/a.png', 100)))
  await expectProblem(t, await postAsAlice(app, UPLOAD, upload('users/alice/a.png', 101)), 413, 'UPLOAD_TOO_LARGE', 'cached: the same maxBytes')
  await expectProblem(t, await postAsAlice(app, UPLOAD, upload('users/alice/a.png', 10, 'image/gif')), 403, 'CONTENT_TYPE_NOT_ALLOWED', 'cached: the same types')
  t.equal(app.permissions.received.length, 1, 'asked once: the other answers came from the cache')
  t.ok(app.logs.some((line) => line.permissionSource === 'cache'), 'and the log says so')
})

t.test('malformed limits make the whole answer unusable: 503 PERMISSION_SERVICE_UNAVAILABLE', async (t) => {
  const malformed: Array<[string, unknown]> = [
    ['not an object', 'big'],
    ['an array', [1]],
    ['null', null],
    ['maxBytes negative', { maxBytes: -1 }],
    ['maxBytes fractional', { maxBytes: 1.5 }],
    ['maxBytes a string', { maxBytes: '100' }],
    ['contentTypes not a list', { contentTypes: 'image/*' }],
    ['contentTypes empty', { contentTypes: [] }],
    ['contentTypes with a bad pattern', { contentTypes: ['image'] }],
    ['contentTypes with a wildcard type', { contentTypes: ['*/png'] }],
    ['contentTypes with a parameter', { contentTypes: ['text/plain; charset=utf-8'] }],
    ['writeOnce not a boolean', { writeOnce: 'yes' }],
    ['an unknown limit', { maxFiles: 3 }]
  ]
  for (const [name, limits] of malformed) {
    const app = await limitedApp(t, limits, { cacheControl: 'max-age=60' })
    await expectProblem(t, await postAsAlice(app, UPLOAD, upload('a.png', 1)), 503, 'PERMISSION_SERVICE_UNAVAILABLE', name)
    await expectProblem(t, await postAsAlice(app, '/v1/download-urls', { key: 'a.png' }), 503, 'PERMISSION_SERVICE_UNAVAILABLE', `${name}: a read too (the whole answer is unusable)`)
    t.equal(app.permissions.received.length, 2, `${name}: never cached`)
    t.match(app.logs.find((line) => typeof line.permission === 'string' && (line.permission as string).startsWith('unavailable')), { permission: /malformed answer: "limits/ }, `${name}: the log says why`)
  }
})
