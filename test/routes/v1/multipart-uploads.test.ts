/**
 * The multipart API surface without a real store: permission checks on every route, request
 * validation (refused before the permission service or storage hear of it), part URL signing,
 * and how every kind of storage failure maps to problem+json. Storage is a scripted fake
 * (test/helpers/fake-s3.ts); the flow against a real store is in test/e2e/multipart.test.ts, and
 * against `npm run dev`'s emulator at the end of this file.
 */
import t, { type Test } from 'tap'
import { build, type TestApp, assertProblem, call, keyQuery, multipartApi, OFFLINE_STORAGE_ENV, uploadPath, type Json } from '../../helpers/app.js'
import { closedPort } from '../../helpers/ports.js'
import { json } from '../../helpers/permission-stub.js'
import { listPartsXml, s3Error, startFakeS3, succeed, xml, type FakeS3, type FakeS3Handler, type FakeS3Request } from '../../helpers/fake-s3.js'
import { startS3Emulator } from '../../../dev/s3-emulator.js'
import { TEST_JWT_SECRET } from '../../helpers/tokens.js'
import { createUploadTokens } from '../../../src/uploads/upload-token.js'
import { effectivePolicy } from '../../../src/uploads/policy.js'

const KEY = 'users/alice/video.mp4'
const UPLOAD_ID = '2~eTVBiQEBslryxi-1OdiKJF7YeCFINXK'
const MiB = 1024 * 1024
const ETAG = '"5d41402abc4b2a76b9719d911017c592"'
const ETAG_2 = '"7d793037a0760186574b0282f2f435e7"'
const STORAGE_SECRET = 'fake-storage-secret-that-must-never-be-logged'
/** The upload the routes below work on: two parts, 8 MiB and 3 bytes, which the fake storage holds. */
const PLAN = { size: 8 * MiB + 3, partSize: 8 * MiB }
const STORED = [{ partNumber: 1, etag: ETAG, size: 8 * MiB }, { partNumber: 2, etag: ETAG_2, size: 3 }]
const COMPLETE = [{ partNumber: 1, etag: ETAG }, { partNumber: 2, etag: ETAG_2 }]
/** A token of the right form that r2-signer never issued. */
const FORGED_TOKEN = `v1.${'a'.repeat(40)}.${'b'.repeat(43)}`

/** An uploadToken as POST /v1/multipart-uploads would issue it for UPLOAD_ID (or `uploadId`), signed with the app's storage secret. */
function uploadToken (options: { uploadId?: string, bucket?: string, key?: string, size?: number, partSize?: number, secret?: string } = {}): string {
  return createUploadTokens(options.secret ?? STORAGE_SECRET).issue({
    uploadId: options.uploadId ?? UPLOAD_ID,
    bucket: options.bucket ?? 'media',
    key: options.key ?? KEY,
    size: options.size ?? PLAN.size,
    partSize: options.partSize ?? PLAN.partSize,
    contentType: 'video/mp4',
    policy: effectivePolicy({ maxBytes: 5 * 1024 ** 3 }, undefined)
  })
}

async function setup (t: Test, options: { handler?: FakeS3Handler, env?: Record<string, string> } = {}): Promise<{ app: TestApp, s3: FakeS3 }> {
  const s3 = await startFakeS3(options.handler ?? succeed(UPLOAD_ID, STORED))
  const app = await build(t, { env: { S3_ENDPOINT: s3.endpoint, S3_SECRET_ACCESS_KEY: STORAGE_SECRET, S3_TIMEOUT_MS: '300', S3_ALLOWED_BUCKETS: 'archive', ...options.env } })
  t.teardown(() => s3.close())
  return { app, s3 }
}

/** The five routes, each with a valid request for KEY (in `bucket` when given). */
function routes (bucket?: string): Array<[name: string, method: string, path: string, body?: Json]> {
  const b = bucket === undefined ? {} : { bucket }
  return [
    ['create', 'POST', '/v1/multipart-uploads', { key: KEY, contentType: 'video/mp4', size: 20 * MiB, ...b }],
    ['part-urls', 'POST', uploadPath(UPLOAD_ID, '/part-urls'), { key: KEY, partNumbers: [1, 2], uploadToken: uploadToken({ bucket: bucket ?? 'media' }), ...b }],
    ['list parts', 'GET', uploadPath(UPLOAD_ID, '/parts') + keyQuery(KEY, bucket)],
    ['complete', 'POST', uploadPath(UPLOAD_ID, '/complete'), { key: KEY, parts: COMPLETE, uploadToken: uploadToken({ bucket: bucket ?? 'media' }), ...b }],
    ['abort', 'DELETE', uploadPath(UPLOAD_ID) + keyQuery(KEY, bucket)]
  ]
}

t.test('the happy path: what r2-signer sends to storage and answers', async (t) => {
  const parts = STORED
  const { app, s3 } = await setup(t)
  const api = multipartApi(app, KEY)

  const created = await api.create({ contentType: 'video/mp4', size: 8 * MiB + 3 })
  t.equal(created.status, 201)
  t.equal(created.headers.get('cache-control'), 'no-store')
  const { uploadToken: issued, ...plan } = created.body
  t.same(plan, { uploadId: UPLOAD_ID, bucket: 'media', key: KEY, partSize: 8 * MiB, partCount: 2 })
  t.match(issued, /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/, 'an uploadToken')
  t.notOk(app.logText().includes(issued as string), 'the uploadToken is never logged')
  const createCall = s3.requests.at(-1) as FakeS3Request
  t.match(createCall, { operation: 'CreateMultipartUpload', method: 'POST', path: '/media/users/alice/video.mp4' })
  t.equal(createCall.headers['content-type'], 'video/mp4', 'the object\'s content type is set at creation')
  t.match(createCall.headers.authorization, /^AWS4-HMAC-SHA256 Credential=test-access-key\//, 'a SigV4-signed request')
  t.notOk(Object.keys(createCall.headers).some((name) => /^x-amz-(checksum|sdk-checksum)/.test(name)), 'no checksum headers (WHEN_REQUIRED)')

  const unsized = await call(app, 'POST', '/v1/multipart-uploads', { key: KEY, contentType: 'video/mp4', partSize: 16 * MiB })
  assertProblem(t, unsized, 400, 'INVALID_REQUEST', 'size is required')

  const listed = await api.listParts(UPLOAD_ID)
  t.equal(listed.status, 200)
  t.same(listed.body, { uploadId: UPLOAD_ID, bucket: 'media', key: KEY, parts })
  t.equal((s3.requests.at(-1) as FakeS3Request).query.get('uploadId'), UPLOAD_ID)

  const completed = await api.complete(UPLOAD_ID, [{ partNumber: 1, etag: ETAG }, { partNumber: 2, etag: '7d793037a0760186574b0282f2f435e7' }])
  t.equal(completed.status, 200)
  t.same(s3.requests.slice(-2).map((r) => r.operation), ['ListParts', 'CompleteMultipartUpload'], 'the parts are checked before completing')
  t.same(completed.body, { bucket: 'media', key: KEY, etag: '"3858f62230ac3c915f300c664312c11f-2"' })
  const sent = (s3.requests.at(-1) as FakeS3Request).body
  t.match(sent, /<Part><ETag>&quot;5d41402abc4b2a76b9719d911017c592&quot;<\/ETag><PartNumber>1<\/PartNumber><\/Part><Part><ETag>&quot;7d793037a0760186574b0282f2f435e7&quot;<\/ETag><PartNumber>2<\/PartNumber><\/Part>/, 'parts in order, ETags quoted')

  const aborted = await api.abort(UPLOAD_ID)
  t.equal(aborted.status, 204)
  t.equal(aborted.text, '')
  t.equal((s3.requests.at(-1) as FakeS3Request).operation, 'AbortMultipartUpload')
})

t.test('listing follows every page', async (t) => {
  const all = Array.from({ length: 2500 }, (_, i) => ({ partNumber: i + 1, etag: `"${(i + 1).toString(16).padStart(32, '0')}"`, size: 5 * MiB }))
  const { app, s3 } = await setup(t, {
    handler: (request, res) => {
      const marker = Number(request.query.get('part-number-marker') ?? 0)
      const maxParts = Number(request.query.get('max-parts'))
      const page = all.filter((p) => p.partNumber > marker).slice(0, maxParts)
      const last = page.at(-1)?.partNumber ?? marker
      xml(res, 200, listPartsXml(page, last < all.length, last < all.length ? last : undefined))
    }
  })
  const listed = await multipartApi(app, KEY).listParts(UPLOAD_ID)
  t.equal(listed.status, 200)
  t.equal(listed.body.parts.length, 2500, 'all 2,500 parts')
  t.same(listed.body.parts.map((p: Json) => p.partNumber), all.map((p) => p.partNumber))
  t.same(s3.requests.map((r) => [r.query.get('max-parts'), r.query.get('part-number-marker')]), [['1000', null], ['1000', '1000'], ['1000', '2000']], 'three pages of 1,000')

  s3.respond((_request, res) => xml(res, 200, listPartsXml(all.slice(0, 1), true, 1)))
  assertProblem(t, await multipartApi(app, KEY).listParts(UPLOAD_ID), 502, 'STORAGE_ERROR', 'a listing that never advances')
})

t.test('every route asks the permission service for write on bucket and key', async (t) => {
  const { app, s3 } = await setup(t)
  for (const bucket of [undefined, 'archive']) {
    for (const [name, method, path, body] of routes(bucket)) {
      const before = app.permissions.received.length
      const answer = await call(app, method, path, body)
      t.ok(answer.status < 300, `${name}: allowed (${answer.status})`)
      const checks = app.permissions.received.slice(before)
      t.equal(checks.length, 1, `${name}: exactly one check`)
      t.same(checks[0]?.body, { subject: 'alice', action: 'write', bucket: bucket ?? 'media', key: KEY }, `${name}: write on ${bucket ?? 'media'}/${KEY}`)
    }
  }
  const line = app.logs.find((entry) => entry.route === '/v1/multipart-uploads/:uploadId/complete')
  t.match(line, { subject: 'alice', action: 'write', bucket: 'media', key: KEY, permission: 'allowed', status: 200 }, 'the request log line carries the audit fields')

  app.permissions.respond((_check, res) => json(res, 200, { allowed: false }))
  const storageCalls = s3.requests.length
  for (const [name, method, path, body] of routes()) {
    assertProblem(t, await call(app, method, path, body), 403, 'PERMISSION_DENIED', `${name} denied`)
  }
  app.permissions.respond((_check, res) => json(res, 500, {}))
  for (const [name, method, path, body] of routes()) {
    assertProblem(t, await call(app, method, path, body), 503, 'PERMISSION_SERVICE_UNAVAILABLE', `${name} with the permission service down`)
  }
  t.equal(s3.requests.length, storageCalls, 'storage never heard of a denied or unchecked request')

  const checks = app.permissions.received.length
  for (const [name, method, path, body] of routes('not-served')) {
    assertProblem(t, await call(app, method, path, body), 403, 'BUCKET_NOT_ALLOWED', `${name} on a bucket r2-signer does not serve`)
  }
  for (const [name, method, path, body] of routes()) {
    const anonymous = await fetch(app.url + path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
    t.equal(anonymous.status, 401, `${name} without a token: 401`)
  }
  t.equal(app.permissions.received.length, checks, 'no check for those')
  t.equal(s3.requests.length, storageCalls)
})

t.test('invalid requests are 400 before the permission service or storage hear of them', async (t) => {
  const { app, s3 } = await setup(t)
  const create = (body: Json) => ['POST', '/v1/multipart-uploads', { key: KEY, contentType: 'video/mp4', size: MiB, ...body }] as const
  const partUrls = (body: Json, uploadId = UPLOAD_ID) => ['POST', uploadPath(uploadId, '/part-urls'), { key: KEY, partNumbers: [1], uploadToken: FORGED_TOKEN, ...body }] as const
  const complete = (parts: unknown, extra: Json = {}) => ['POST', uploadPath(UPLOAD_ID, '/complete'), { key: KEY, parts, uploadToken: FORGED_TOKEN, ...extra }] as const
  const part = (partNumber: number, etag = ETAG) => ({ partNumber, etag })
  const cases: Array<[string, readonly [string, string, unknown?], string]> = [
    ['create without contentType', ['POST', '/v1/multipart-uploads', { key: KEY }], 'INVALID_REQUEST'],
    ['create with a bad key', create({ key: 'a/../b' }), 'INVALID_KEY'],
    ['create without size', ['POST', '/v1/multipart-uploads', { key: KEY, contentType: 'video/mp4' }] as const, 'INVALID_REQUEST'],
    ['part-urls without uploadToken', partUrls({ uploadToken: undefined }), 'INVALID_UPLOAD_TOKEN'],
    ['part-urls with a malformed uploadToken', partUrls({ uploadToken: 'not a token' }), 'INVALID_UPLOAD_TOKEN'],
    ['complete without uploadToken', complete([part(1)], { uploadToken: undefined }), 'INVALID_UPLOAD_TOKEN'],
    ['complete with a malformed uploadToken', complete([part(1)], { uploadToken: 'v1.x.y' }), 'INVALID_UPLOAD_TOKEN'],
    ['create with an unknown property', create({ acl: 'public-read' }), 'INVALID_REQUEST'],
    ['create with a negative size', create({ size: -1 }), 'INVALID_REQUEST'],
    ['create with a fractional size', create({ size: 1.5 }), 'INVALID_REQUEST'],
    ['create with 5 TiB (over R2\'s 5 TiB − 5 GiB)', create({ size: 5 * 1024 ** 4 }), 'INVALID_REQUEST'],
    ['create with a part under 5 MiB', create({ partSize: 5 * MiB - 1 }), 'INVALID_REQUEST'],
    ['create with a 5 GiB part (over R2\'s 5 GiB − 5 MiB)', create({ partSize: 5 * 1024 ** 3 }), 'INVALID_REQUEST'],
    ['create with a part size needing over 10,000 parts', create({ size: 10_000 * 5 * MiB + 1, partSize: 5 * MiB }), 'INVALID_PART_SIZE'],
    ['part-urls without partNumbers', ['POST', uploadPath(UPLOAD_ID, '/part-urls'), { key: KEY, uploadToken: FORGED_TOKEN }], 'INVALID_REQUEST'],
    ['part-urls with no part numbers', partUrls({ partNumbers: [] }), 'INVALID_REQUEST'],
    ['part-urls with part number 0', partUrls({ partNumbers: [0] }), 'INVALID_REQUEST'],
    ['part-urls with part number 10001', partUrls({ partNumbers: [10_001] }), 'INVALID_REQUEST'],
    ['part-urls with a fractional part number', partUrls({ partNumbers: [1.5] }), 'INVALID_REQUEST'],
    ['part-urls with a duplicate part number', partUrls({ partNumbers: [1, 2, 1] }), 'INVALID_REQUEST'],
    ['part-urls with 1001 part numbers', partUrls({ partNumbers: Array.from({ length: 1001 }, (_, i) => i + 1) }), 'INVALID_REQUEST'],
    ['part-urls with expiresIn above the max', partUrls({ expiresIn: 3601 }), 'INVALID_EXPIRES_IN'],
    ['part-urls with a bad key', partUrls({ key: '/abs' }), 'INVALID_KEY'],
    ['part-urls with a 1025-character upload ID', partUrls({}, 'u'.repeat(1025)), 'INVALID_REQUEST'],
    ['part-urls with a space in the upload ID', partUrls({}, 'abc def'), 'INVALID_REQUEST'],
    ['part-urls with "<" in the upload ID', partUrls({}, 'abc<def'), 'INVALID_REQUEST'],
    ['part-urls with "&" in the upload ID', partUrls({}, 'abc&partNumber=2'), 'INVALID_REQUEST'],
    ['part-urls with a control character in the upload ID', partUrls({}, 'abc\u0000def'), 'INVALID_REQUEST'],
    ['part-urls with a non-ASCII upload ID', partUrls({}, 'abcdé'), 'INVALID_REQUEST'],
    ['list without key', ['GET', uploadPath(UPLOAD_ID, '/parts')], 'INVALID_REQUEST'],
    ['list with a bad key', ['GET', uploadPath(UPLOAD_ID, '/parts') + keyQuery('a//b')], 'INVALID_KEY'],
    ['list with an unknown query parameter', ['GET', uploadPath(UPLOAD_ID, '/parts') + keyQuery(KEY) + '&max-parts=5'], 'INVALID_REQUEST'],
    ['list with a bad upload ID', ['GET', uploadPath('abc def', '/parts') + keyQuery(KEY)], 'INVALID_REQUEST'],
    ['abort without key', ['DELETE', uploadPath(UPLOAD_ID)], 'INVALID_REQUEST'],
    ['abort with a bad upload ID', ['DELETE', uploadPath('x'.repeat(1025)) + keyQuery(KEY)], 'INVALID_REQUEST'],
    ['complete without parts', ['POST', uploadPath(UPLOAD_ID, '/complete'), { key: KEY, uploadToken: FORGED_TOKEN }], 'INVALID_REQUEST'],
    ['complete with no parts', complete([]), 'INVALID_REQUEST'],
    ['complete with parts out of order', complete([part(2), part(1)]), 'INVALID_REQUEST'],
    ['complete with a duplicate part', complete([part(1), part(2), part(2)]), 'INVALID_REQUEST'],
    ['complete with part number 0', complete([part(0)]), 'INVALID_REQUEST'],
    ['complete with part number 10001', complete([part(10_001)]), 'INVALID_REQUEST'],
    ['complete with 10,001 parts', complete(Array.from({ length: 10_001 }, (_, i) => part(i + 1))), 'INVALID_REQUEST'],
    ['complete with an empty ETag', complete([part(1, '')]), 'INVALID_REQUEST'],
    ['complete with a weak ETag', complete([part(1, 'W/"abc"')]), 'INVALID_REQUEST'],
    ['complete with a quote inside the ETag', complete([part(1, '"ab"cd"')]), 'INVALID_REQUEST'],
    ['complete with a half-quoted ETag', complete([part(1, '"abc')]), 'INVALID_REQUEST'],
    ['complete with a space in the ETag', complete([part(1, 'ab cd')]), 'INVALID_REQUEST'],
    ['complete with a 257-character ETag', complete([part(1, 'a'.repeat(257))]), 'INVALID_REQUEST'],
    ['complete with a part without ETag', complete([{ partNumber: 1 }]), 'INVALID_REQUEST'],
    ['complete with an extra part property', complete([{ ...part(1), size: 5 }]), 'INVALID_REQUEST']
  ]
  for (const [label, [method, path, body], code] of cases) {
    const checks = app.permissions.received.length
    const storageCalls = s3.requests.length
    const problem = assertProblem(t, await call(app, method, path, body), 400, code, label)
    t.equal(app.permissions.received.length, checks, `${label}: no permission check`)
    t.equal(s3.requests.length, storageCalls, `${label}: storage not called`)
    if (label.includes('out of order')) t.match(problem.detail, /ascending/, 'the detail says what is wrong')
    if (label.includes('over 10,000 parts')) t.match(problem.detail, /at least 5242881 bytes/, 'and how to fix it')
  }
})

t.test('upload IDs: storage\'s opaque strings pass through intact, within bounds', async (t) => {
  const { app, s3 } = await setup(t)
  const r2Like = 'AKlJIZfgRVOQwS2UEs3Uuv1WM/JFaNz4lSKmjc9eqD+EW4dqz//kWHa7ugXUEqJfeSpECxfGSy0xy4TD4MUjuEa7de2G0TuLvMqTOd3/O4ZqY6COpsMpBYmTsJXzTBQPZH9gd7h0vL11LRTVgMWZtkTRPzRYr4Krg9rb6VS6je4M1iSJ/oSs2GTdyu7n/RgGwwJohY+Dkije1wE00lLSbBQUHbPPAoULO1VyUHJEw8uumchFHL+VoFlsiN3Fy4po/4H1SJlubTO7VxtE2HHPL6jsEKMcBfLLijFwY8HrkWp8sgHXit3Hvxnl4F3mN4giyUOZ=='
  for (const uploadId of [UPLOAD_ID, r2Like, 'VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA.._~-', 'u'.repeat(1024), 'x']) {
    const signed = await call(app, 'POST', uploadPath(uploadId, '/part-urls'), { key: KEY, partNumbers: [7], uploadToken: uploadToken({ uploadId, size: 20 * PLAN.partSize }) })
    t.equal(signed.status, 200, `signs for ${uploadId.slice(0, 24)}… (${uploadId.length} characters)`)
    t.equal(signed.body.uploadId, uploadId, 'echoed unchanged')
    t.equal(new URL(signed.body.parts[0].url as string).searchParams.get('uploadId'), uploadId, 'in the URL unchanged')
    const listed = await call(app, 'GET', uploadPath(uploadId, '/parts') + keyQuery(KEY))
    t.equal(listed.status, 200)
    t.equal((s3.requests.at(-1) as FakeS3Request).query.get('uploadId'), uploadId, 'sent to storage unchanged')
  }
  const absurd = await call(app, 'GET', uploadPath('u'.repeat(5000), '/parts') + keyQuery(KEY))
  t.ok(absurd.status === 414 || absurd.status === 404, `an absurdly long path segment is refused by the router (${absurd.status})`)
  const empty = await call(app, 'GET', '/v1/multipart-uploads//parts' + keyQuery(KEY))
  t.ok(empty.status === 400 || empty.status === 404, `an empty upload ID is refused (${empty.status})`)
})

t.test('part URLs: up to 1,000 per call, signed locally with partNumber and uploadId', async (t) => {
  const { app, s3 } = await setup(t)
  const partNumbers = Array.from({ length: 1000 }, (_, i) => 10_000 - 2 * i)
  const before = Date.now()
  const token = uploadToken({ size: 10_000 * 5 * MiB - 7, partSize: 5 * MiB })
  const signed = await call(app, 'POST', uploadPath(UPLOAD_ID, '/part-urls'), { key: KEY, partNumbers, uploadToken: token })
  t.equal(signed.status, 200)
  t.equal(s3.requests.length, 0, 'no storage call')
  const { parts, ...rest } = signed.body
  t.same(rest, { uploadId: UPLOAD_ID, bucket: 'media', key: KEY, expiresIn: 300, headers: {} }, 'no header to send: each URL signs the part\'s content-length only')
  t.same(parts.map((p: Json) => p.partNumber), partNumbers, 'in the order asked')
  const expiresAt = new Set(parts.map((p: Json) => p.expiresAt))
  t.equal(expiresAt.size, 1, 'every URL of a batch expires together')
  const expiry = Date.parse(parts[0].expiresAt as string)
  t.ok(expiry >= Math.floor(before / 1000) * 1000 + 300_000 && expiry <= Date.now() + 300_000, 'expiresAt = now + expiresIn')
  let wellFormed = 0
  for (const part of parts as Json[]) {
    const url = new URL(part.url as string)
    const q = url.searchParams
    if (url.pathname === '/media/users/alice/video.mp4' && q.get('partNumber') === String(part.partNumber) && q.get('uploadId') === UPLOAD_ID &&
      q.get('x-id') === 'UploadPart' && q.get('X-Amz-SignedHeaders') === 'content-length;host' && q.get('X-Amz-Expires') === '300' &&
      ![...q.keys()].some((name) => /checksum/i.test(name))) wellFormed++
  }
  t.equal(wellFormed, 1000, 'every URL: this part, this upload, UploadPart, content-length signed (no content-type), no checksum parameters')

  const beyond = await call(app, 'POST', uploadPath(UPLOAD_ID, '/part-urls'), { key: KEY, partNumbers: [1, 3], uploadToken: uploadToken() })
  t.match(assertProblem(t, beyond, 400, 'INVALID_REQUEST', 'a part number above partCount').detail, /part 3 is beyond the upload's 2 parts/)

  const short = await call(app, 'POST', uploadPath(UPLOAD_ID, '/part-urls'), { key: KEY, partNumbers: [1], expiresIn: 60, bucket: 'archive', uploadToken: uploadToken({ bucket: 'archive' }) })
  t.equal(short.body.expiresIn, 60)
  t.equal(new URL(short.body.parts[0].url as string).pathname, '/archive/users/alice/video.mp4', 'another allowed bucket')
  t.notMatch(app.logText(), /X-Amz-Signature=[0-9a-f]/, 'no signature in the logs')
})

t.test('complete takes 10,000 parts despite the 64 KiB body limit elsewhere', async (t) => {
  const parts = Array.from({ length: 10_000 }, (_, i) => ({ partNumber: i + 1, etag: `"${(i + 1).toString(16).padStart(32, 'a')}"` }))
  const stored = parts.map((part) => ({ ...part, size: 5 * MiB }))
  const { app, s3 } = await setup(t, {
    handler: (request, res) => {
      if (request.operation !== 'ListParts') return succeed(UPLOAD_ID)(request, res)
      const marker = Number(request.query.get('part-number-marker') ?? 0)
      const page = stored.filter((p) => p.partNumber > marker).slice(0, Number(request.query.get('max-parts')))
      const last = page.at(-1)?.partNumber ?? marker
      xml(res, 200, listPartsXml(page, last < stored.length, last < stored.length ? last : undefined))
    }
  })
  const uploadToken10k = uploadToken({ size: 10_000 * 5 * MiB, partSize: 5 * MiB })
  const completed = await call(app, 'POST', uploadPath(UPLOAD_ID, '/complete'), { key: KEY, parts, uploadToken: uploadToken10k })
  t.equal(completed.status, 200)
  t.equal((s3.requests.at(-1) as FakeS3Request).body.match(/<Part>/g)?.length, 10_000, 'all 10,000 parts reach storage')
  const huge = await call(app, 'POST', uploadPath(UPLOAD_ID, '/complete'), { key: KEY, parts, uploadToken: uploadToken10k, padding: 'x'.repeat(4 * MiB) })
  assertProblem(t, huge, 413, 'PAYLOAD_TOO_LARGE', 'but not more than 4 MiB')
  assertProblem(t, await call(app, 'POST', '/v1/multipart-uploads', { key: KEY, contentType: 'video/mp4', padding: 'x'.repeat(65 * 1024) }), 413, 'PAYLOAD_TOO_LARGE', 'the other routes keep 64 KiB')
})

t.test('storage failures map to clear problems, never a 500 with a stack', async (t) => {
  const { app, s3 } = await setup(t)
  const api = multipartApi(app, KEY)
  api.useToken(UPLOAD_ID, uploadToken())
  const operations: Array<[string, () => ReturnType<typeof api.create>]> = [
    ['create', () => api.create()],
    ['list', () => api.listParts(UPLOAD_ID)],
    ['complete', () => api.complete(UPLOAD_ID, COMPLETE)],
    ['abort', () => api.abort(UPLOAD_ID)]
  ]
  const scenarios: Array<[string, FakeS3Handler, number, string]> = [
    ['NoSuchUpload', (_r, res) => s3Error(res, 404, 'NoSuchUpload'), 404, 'UPLOAD_NOT_FOUND'],
    ['500 InternalError', (_r, res) => s3Error(res, 500, 'InternalError', 'We encountered an internal error.'), 503, 'STORAGE_UNAVAILABLE'],
    ['503 SlowDown', (_r, res) => s3Error(res, 503, 'SlowDown', 'Please reduce your request rate.'), 503, 'STORAGE_UNAVAILABLE'],
    ['429 without a body', (_r, res) => void res.writeHead(429).end(), 503, 'STORAGE_UNAVAILABLE'],
    ['502 HTML from a proxy', (_r, res) => void res.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad gateway</html>'), 503, 'STORAGE_UNAVAILABLE'],
    ['403 SignatureDoesNotMatch', (_r, res) => s3Error(res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match.'), 502, 'STORAGE_ERROR'],
    ['403 InvalidAccessKeyId', (_r, res) => s3Error(res, 403, 'InvalidAccessKeyId'), 502, 'STORAGE_ERROR'],
    ['403 AccessDenied', (_r, res) => s3Error(res, 403, 'AccessDenied'), 502, 'STORAGE_ERROR'],
    ['404 NoSuchBucket', (_r, res) => s3Error(res, 404, 'NoSuchBucket'), 502, 'STORAGE_ERROR'],
    ['501 NotImplemented', (_r, res) => s3Error(res, 501, 'NotImplemented'), 502, 'STORAGE_ERROR'],
    ['409 from nowhere', (_r, res) => s3Error(res, 409, 'OperationAborted'), 502, 'STORAGE_ERROR'],
    ['400 InvalidArgument', (_r, res) => s3Error(res, 400, 'InvalidArgument'), 400, 'INVALID_REQUEST'],
    ['the connection reset', (_r, res) => res.socket?.destroy(), 503, 'STORAGE_UNAVAILABLE'],
    ['no answer within S3_TIMEOUT_MS', () => {}, 503, 'STORAGE_UNAVAILABLE']
  ]
  for (const [scenario, handler, status, code] of scenarios) {
    s3.respond(handler)
    for (const [operation, run] of operations) {
      const started = Date.now()
      assertProblem(t, await run(), status, code, `${operation}, storage: ${scenario}`)
      if (scenario.startsWith('no answer')) t.ok(Date.now() - started < 3000, `${operation}: gives up in time (${Date.now() - started} ms)`)
    }
  }

  const completeOnly: Array<[string, FakeS3Handler, number, string]> = [
    ['InvalidPart', (_r, res) => s3Error(res, 400, 'InvalidPart'), 400, 'INVALID_PART'],
    ['InvalidPartOrder', (_r, res) => s3Error(res, 400, 'InvalidPartOrder'), 400, 'INVALID_PART'],
    ['EntityTooSmall', (_r, res) => s3Error(res, 400, 'EntityTooSmall'), 400, 'PART_TOO_SMALL'],
    ['an error inside a 200 (S3 does that on complete)', (_r, res) => xml(res, 200, '<Error><Code>InternalError</Code><Message>x</Message></Error>'), 503, 'STORAGE_UNAVAILABLE'],
    // Ceph RGW's answer to completing an unknown upload; the ListParts that follows says it is gone.
    ['Ceph\'s 500 for an unknown upload', (r, res) => r.operation === 'ListParts' ? s3Error(res, 404, 'NoSuchKey') : s3Error(res, 500, 'InternalError', 'This multipart completion is already in progress'), 404, 'UPLOAD_NOT_FOUND']
  ]
  for (const [scenario, handler, status, code] of completeOnly) {
    // The parts check before completing sees the planned parts; the listing after Ceph's 500 says what the scenario says.
    let listed = false
    s3.respond((r, res) => {
      if (r.operation === 'ListParts' && !listed) {
        listed = true
        return xml(res, 200, listPartsXml(STORED, false))
      }
      return handler(r, res)
    })
    assertProblem(t, await api.complete(UPLOAD_ID, COMPLETE), status, code, `complete, storage: ${scenario}`)
  }
  s3.respond((r, res) => r.operation === 'ListParts' ? s3Error(res, 404, 'NoSuchKey') : s3Error(res, 404, 'NoSuchUpload'))
  assertProblem(t, await api.listParts(UPLOAD_ID), 404, 'UPLOAD_NOT_FOUND', 'list: Ceph\'s NoSuchKey for an unknown upload')

  s3.respond((_r, res) => xml(res, 200, '<InitiateMultipartUploadResult><Bucket>b</Bucket></InitiateMultipartUploadResult>'))
  assertProblem(t, await api.create(), 502, 'STORAGE_ERROR', 'create: an answer without UploadId')
  s3.respond((r, res) => r.operation === 'AbortMultipartUpload' ? void res.writeHead(204).end() : xml(res, 200, `<InitiateMultipartUploadResult><UploadId>${'u'.repeat(2000)}</UploadId></InitiateMultipartUploadResult>`))
  assertProblem(t, await api.create(), 502, 'STORAGE_ERROR', 'create: an upload ID clients could not send back')
  t.equal((s3.requests.at(-1) as FakeS3Request).operation, 'AbortMultipartUpload', 'that upload is aborted at once')
  s3.respond((_r, res) => xml(res, 200, '<ListPartsResult><IsTruncated>false</IsTruncated><Part><PartNumber>1</PartNumber></Part></ListPartsResult>'))
  assertProblem(t, await api.listParts(UPLOAD_ID), 502, 'STORAGE_ERROR', 'list: a part without ETag')

  const failures = app.logs.filter((entry) => entry.msg === 'storage call failed')
  t.ok(failures.length > 50, 'each storage failure is logged')
  t.match(failures.find((entry) => (entry.storage as Json).code === 'SignatureDoesNotMatch'), { level: 50, problem: 'STORAGE_ERROR', storage: { operation: 'CreateMultipartUpload', status: 403, requestId: 'fake-request-id' } }, 'misconfiguration: error level, with what storage said')
  t.match(failures.find((entry) => (entry.storage as Json).code === 'SlowDown'), { level: 40, problem: 'STORAGE_UNAVAILABLE', storage: { status: 503 } }, 'storage trouble: warn level')
  t.match(failures.find((entry) => (entry.storage as Json).code === 'NoSuchUpload'), { level: 30, problem: 'UPLOAD_NOT_FOUND' }, 'the caller\'s mistake: info level')
  t.notOk(app.logs.some((entry) => entry.msg === 'unhandled error'), 'nothing reached the 500 handler')
  t.notMatch(app.logText(), STORAGE_SECRET, 'the storage secret is never logged')
  t.notMatch(app.logText(), TEST_JWT_SECRET, 'nor the JWT secret')
})

t.test('storage that cannot be reached is a 503 with Retry-After', async (t) => {
  const app = await build(t, { env: { S3_ENDPOINT: `http://127.0.0.1:${await closedPort()}` } })
  const api = multipartApi(app, KEY)
  api.useToken(UPLOAD_ID, uploadToken({ secret: OFFLINE_STORAGE_ENV.S3_SECRET_ACCESS_KEY }))
  for (const [name, answer] of [['create', await api.create()], ['list', await api.listParts(UPLOAD_ID)], ['complete', await api.complete(UPLOAD_ID, COMPLETE)], ['abort', await api.abort(UPLOAD_ID)]] as const) {
    assertProblem(t, answer, 503, 'STORAGE_UNAVAILABLE', name)
  }
  t.match(app.logs.find((entry) => entry.msg === 'storage call failed'), { level: 40, storage: { code: 'ECONNREFUSED' } })
  t.equal((await api.partUrls(UPLOAD_ID, [1])).status, 200, 'part URLs are still signed: signing needs no storage')
})

t.test('npm run dev: the in-memory emulator drives a whole multipart upload under R2\'s rules', async (t) => {
  const creds = { accessKeyId: 'dev-key', secretAccessKey: 'dev-secret-0123456789' }
  const emulator = await startS3Emulator({ ...creds, region: 'auto', buckets: ['media'] })
  t.teardown(() => emulator.close())
  const app = await build(t, { env: { S3_ENDPOINT: emulator.endpoint, S3_ACCESS_KEY_ID: creds.accessKeyId, S3_SECRET_ACCESS_KEY: creds.secretAccessKey } })
  const api = multipartApi(app, KEY)
  const data = Buffer.alloc(2 * 5 * MiB + 100, 7)
  for (let i = 0; i < data.length; i += 4096) data[i] = i % 251

  const created = await api.create({ contentType: 'video/mp4', size: data.length, partSize: 5 * MiB })
  t.equal(created.status, 201)
  t.equal(created.body.partCount, 3)
  const uploadId = created.body.uploadId as string
  const signed = await api.partUrls(uploadId, [1, 2, 3])
  const etags: Array<{ partNumber: number, etag: string }> = []
  for (const { partNumber, url } of signed.body.parts as Array<{ partNumber: number, url: string }>) {
    const body = data.subarray((partNumber - 1) * 5 * MiB, partNumber * 5 * MiB)
    const put = await fetch(url, { method: 'PUT', headers: signed.body.headers as Record<string, string>, body })
    t.equal(put.status, 200, `part ${partNumber} stored`)
    etags.push({ partNumber, etag: put.headers.get('etag') ?? '' })
  }
  const listed = await api.listParts(uploadId)
  t.same(listed.body.parts.map((p: Json) => [p.partNumber, p.size]), [[1, 5 * MiB], [2, 5 * MiB], [3, 100]])
  const completed = await api.complete(uploadId, etags)
  t.equal(completed.status, 200)
  t.match(completed.body.etag, /^"[0-9a-f]{32}-3"$/)
  const download = await call(app, 'POST', '/v1/download-urls', { key: KEY })
  const object = await fetch(download.body.url as string)
  t.equal(object.headers.get('content-type'), 'video/mp4')
  t.ok(Buffer.from(await object.arrayBuffer()).equals(data), 'identical bytes')
  assertProblem(t, await api.abort(uploadId), 404, 'UPLOAD_NOT_FOUND', 'a completed upload cannot be aborted')

  // Every part URL is signed for its planned size: a part of another size is refused by storage itself.
  const planned = await api.create({ size: 2 * 5 * MiB + 10, partSize: 5 * MiB })
  const plannedUrls = await api.partUrls(planned.body.uploadId as string, [1])
  const wrongSize = await fetch((plannedUrls.body.parts as Array<{ url: string }>)[0]?.url as string, { method: 'PUT', body: Buffer.alloc(6 * MiB) })
  t.equal(wrongSize.status, 403, 'a 6 MiB part through a URL signed for 5 MiB: 403 from storage')
  t.equal((await api.abort(planned.body.uploadId as string)).status, 204)
})
