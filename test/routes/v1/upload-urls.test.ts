/**
 * POST /v1/upload-urls over real HTTP: PUT URLs bound to content type, length and MD5, and
 * their validation. Rules shared with download URLs (keys, expiresIn, bodies, buckets) are in
 * ./signed-urls.test.ts.
 */
import { createHash } from 'node:crypto'
import t from 'tap'
import { build, expectOk, expectProblem, postAsAlice } from '../../helpers/app.js'
import { assertNoChecksumParams, md5, urlQuery } from '../../helpers/signed-urls.js'

type Body = Record<string, unknown>
const UPLOAD = '/v1/upload-urls'
const GIB = 1024 ** 3

t.test('upload URLs', async (t) => {
  const app = await build(t)

  t.test('content-type only: headers and X-Amz-SignedHeaders', async (t) => {
    const started = Date.now()
    const body = await expectOk(t, await postAsAlice(app, UPLOAD, { key: 'users/alice/clip.mp4', contentType: 'video/mp4' }))
    t.same(Object.keys(body).sort(), ['bucket', 'expiresAt', 'expiresIn', 'headers', 'key', 'method', 'url'])
    t.match(body, { method: 'PUT', bucket: 'media', key: 'users/alice/clip.mp4', expiresIn: 300 })
    t.same(body.headers, { 'content-type': 'video/mp4' }, 'exactly content-type')
    t.same((urlQuery(body.url).get('X-Amz-SignedHeaders') as string).split(';').sort(), ['content-type', 'host'])
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

  t.test('content-md5 only', async (t) => {
    const body = await expectOk(t, await postAsAlice(app, UPLOAD, { key: 'a.bin', contentType: 'application/octet-stream', contentMd5: md5('') }))
    t.same(body.headers, { 'content-type': 'application/octet-stream', 'content-md5': md5('') })
    t.same((urlQuery(body.url).get('X-Amz-SignedHeaders') as string).split(';').sort(), ['content-md5', 'content-type', 'host'])
  })

  const invalid: Array<[string, Body]> = [
    ['no contentType', { key: 'a' }],
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
