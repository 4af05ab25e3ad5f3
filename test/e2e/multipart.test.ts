/**
 * Multipart uploads end to end against Ceph RGW: the browser's part of the flow is played with
 * fetch on the presigned part URLs, r2-signer's control-plane calls go to the real store.
 */
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3'
import { buildWithStorage, signUrl, assertProblem, multipartApi, type Json } from '../helpers/app.js'
import { s3Client, testStorage } from '../helpers/storage.js'
import { tokenFor } from '../helpers/tokens.js'
import { json } from '../helpers/permission-stub.js'
import { createPresigner } from '../../src/signing/presigner.js'
import { MultipartStorage } from '../../src/storage/multipart.js'

const MiB = 1024 * 1024
const token = tokenFor('alice')

type App = Awaited<ReturnType<typeof buildWithStorage>>
type Api = ReturnType<typeof multipartApi>

/** Creates an upload and checks the 201 answer. */
async function create (t: Test, api: Api, extra: Json = {}): Promise<Json> {
  const answer = await api.create(extra)
  t.equal(answer.status, 201, `create answers 201 (${JSON.stringify(extra)})`)
  t.match(answer.body, { uploadId: String, bucket: String, key: String, partSize: Number, partCount: Number, uploadToken: String })
  return answer.body
}

/**
 * Signs URLs for `parts` (number → bytes) and PUTs them as `curl -T` or a Blob slice would: the
 * bytes and nothing else (no Content-Type header); returns part number → ETag.
 */
async function putParts (t: Test, api: Api, uploadId: string, parts: Map<number, Buffer>): Promise<Map<number, string>> {
  const signed = await api.partUrls(uploadId, [...parts.keys()])
  t.equal(signed.status, 200, 'part URLs signed')
  t.same(signed.body.headers, {}, 'no header a part PUT must add')
  const etags = new Map<number, string>()
  await Promise.all((signed.body.parts as Json[]).map(async ({ partNumber, url }) => {
    const response = await fetch(url as string, { method: 'PUT', body: parts.get(partNumber as number) })
    t.equal(response.status, 200, `storage accepts part ${String(partNumber)}`)
    etags.set(partNumber as number, response.headers.get('etag') ?? '')
  }))
  return etags
}

/** Reads the object back through a download URL. */
async function download (t: Test, app: App, key: string): Promise<{ bytes: Buffer, contentType: string | null }> {
  const signed = await signUrl(t, app, 'download-urls', { key }, token)
  const response = await fetch(signed.url)
  t.equal(response.status, 200, 'the object can be downloaded')
  return { bytes: Buffer.from(await response.arrayBuffer()), contentType: response.headers.get('content-type') }
}

function slices (data: Buffer, partSize: number): Map<number, Buffer> {
  const parts = new Map<number, Buffer>()
  for (let offset = 0, n = 1; offset < data.length || n === 1; offset += partSize, n++) parts.set(n, data.subarray(offset, offset + partSize))
  return parts
}

t.test('a three-part upload through part URLs completes and reads back byte for byte', async (t) => {
  const app = await buildWithStorage(t)
  const key = 'users/alice/videos/holiday 2026 — großes Finale.mp4'
  const api = multipartApi(app, key)
  const data = randomBytes(2 * 5 * MiB + 12_345)

  const created = await create(t, api, { contentType: 'video/mp4', size: data.length, partSize: 5 * MiB })
  t.same({ ...created, uploadId: undefined, uploadToken: undefined }, { uploadId: undefined, uploadToken: undefined, bucket: app.bucket, key, partSize: 5 * MiB, partCount: 3 }, 'the plan: three parts of 5 MiB, the last 12,345 bytes')
  const uploadId = created.uploadId as string

  const etags = await putParts(t, api, uploadId, slices(data, 5 * MiB))
  t.equal(etags.size, 3)
  for (const etag of etags.values()) t.match(etag, /^"[0-9a-f]{32}"$/, 'a part ETag is readable (what the CORS ExposeHeaders rule is for)')

  const parts = [...etags].sort(([a], [b]) => a - b).map(([partNumber, etag]) => ({ partNumber, etag }))
  const completed = await api.complete(uploadId, parts)
  t.equal(completed.status, 200, 'complete answers 200')
  t.same({ bucket: completed.body.bucket, key: completed.body.key }, { bucket: app.bucket, key })
  if ('etag' in completed.body) t.match(completed.body.etag, /^"?[0-9a-f]{32}-3"?$/, 'a multipart ETag when storage reports one')
  else t.pass('no ETag: Ceph 16 answers an empty one, so the field is left out')

  const { bytes, contentType } = await download(t, app, key)
  t.equal(bytes.length, data.length)
  t.ok(bytes.equals(data), 'identical bytes')
  t.equal(contentType, 'video/mp4', 'the content type given at creation')

  assertProblem(t, await api.listParts(uploadId), 404, 'UPLOAD_NOT_FOUND', 'a completed upload is gone')
})

t.test('without partSize, r2-signer picks one; an empty file is one empty part', async (t) => {
  const app = await buildWithStorage(t)
  const big = await create(t, multipartApi(app, 'users/alice/planned.bin'), { size: 12 * MiB })
  t.equal(big.partSize, 8 * MiB, 'the default part size')
  t.equal(big.partCount, 2)

  const api = multipartApi(app, 'users/alice/empty.bin')
  const empty = await create(t, api, { size: 0 })
  t.equal(empty.partCount, 1, 'size 0: one part')
  const etags = await putParts(t, api, empty.uploadId as string, new Map([[1, Buffer.alloc(0)]]))
  const completed = await api.complete(empty.uploadId as string, [{ partNumber: 1, etag: etags.get(1) as string }])
  t.equal(completed.status, 200, 'an upload of one empty part completes')
  const { bytes } = await download(t, app, 'users/alice/empty.bin')
  t.equal(bytes.length, 0, 'an empty object')
})

t.test('after losing its state, a client resumes from the parts listing', async (t) => {
  const app = await buildWithStorage(t)
  const key = 'users/alice/resumed.bin'
  const api = multipartApi(app, key)
  const data = randomBytes(2 * 5 * MiB + 1)
  const { uploadId } = await create(t, api, { size: data.length, partSize: 5 * MiB })
  const all = slices(data, 5 * MiB)

  // The browser uploads parts 1 and 3, then crashes: the ETags are lost with it.
  await putParts(t, api, uploadId as string, new Map([[1, all.get(1) as Buffer], [3, all.get(3) as Buffer]]))

  const listed = await api.listParts(uploadId as string)
  t.equal(listed.status, 200)
  t.same(listed.body.parts.map((p: Json) => [p.partNumber, p.size]), [[1, 5 * MiB], [3, 1]], 'storage holds parts 1 and 3, with their sizes')
  for (const part of listed.body.parts as Json[]) t.match(part.etag, /^"[0-9a-f]{32}"$/)
  t.same({ uploadId: listed.body.uploadId, bucket: listed.body.bucket, key: listed.body.key }, { uploadId, bucket: app.bucket, key })

  // Resume: upload only what is missing, then complete with the listed ETags.
  await putParts(t, api, uploadId as string, new Map([[2, all.get(2) as Buffer]]))
  const relisted = await api.listParts(uploadId as string)
  t.same(relisted.body.parts.map((p: Json) => p.partNumber), [1, 2, 3], 'all three parts now')
  // ETags without their quotes are accepted too (r2-signer quotes them; Ceph insists).
  const parts = (relisted.body.parts as Json[]).map(({ partNumber, etag }) => ({ partNumber, etag: (etag as string).replaceAll('"', '') }))
  t.equal((await api.complete(uploadId as string, parts as Array<{ partNumber: number, etag: string }>)).status, 200, 'completes')
  t.ok((await download(t, app, key)).bytes.equals(data), 'identical bytes')
})

t.test('listing gathers every page', async (t) => {
  const { endpoint, region, accessKeyId, secretAccessKey } = testStorage()
  const storage = new MultipartStorage({ endpoint, region, accessKeyId, secretAccessKey, forcePathStyle: true, timeoutMs: 5000, listPageSize: 2 })
  t.teardown(() => storage.destroy())
  const app = await buildWithStorage(t)
  const s3 = s3Client()
  t.teardown(() => s3.destroy())
  const { uploadId } = await storage.create({ bucket: app.bucket, key: 'paged.bin', contentType: 'application/octet-stream' })
  for (const partNumber of [7, 1, 3, 2, 9]) {
    await s3.send(new UploadPartCommand({ Bucket: app.bucket, Key: 'paged.bin', UploadId: uploadId, PartNumber: partNumber, Body: `part ${partNumber}` }))
  }
  const parts = await storage.listParts({ bucket: app.bucket, key: 'paged.bin', uploadId })
  t.same(parts.map((p) => p.partNumber), [1, 2, 3, 7, 9], 'five parts over three pages of two, in order')
  t.same(parts.map((p) => p.size), [6, 6, 6, 6, 6])
  await storage.abort({ bucket: app.bucket, key: 'paged.bin', uploadId })
})

t.test('an aborted upload is gone', async (t) => {
  const app = await buildWithStorage(t)
  const key = 'users/alice/aborted.bin'
  const api = multipartApi(app, key)
  const { uploadId } = await create(t, api, { size: 1024 })
  const etags = await putParts(t, api, uploadId as string, new Map([[1, randomBytes(1024)]]))

  const aborted = await api.abort(uploadId as string)
  t.equal(aborted.status, 204, 'abort answers 204')
  t.equal(aborted.text, '', 'with no body')

  assertProblem(t, await api.listParts(uploadId as string), 404, 'UPLOAD_NOT_FOUND', 'list')
  assertProblem(t, await api.complete(uploadId as string, [{ partNumber: 1, etag: etags.get(1) as string }]), 404, 'UPLOAD_NOT_FOUND', 'complete')
  assertProblem(t, await api.abort(uploadId as string), 404, 'UPLOAD_NOT_FOUND', 'a second abort')

  // Signing part URLs makes no storage call, so it cannot know; storage refuses the PUT itself.
  const signed = await api.partUrls(uploadId as string, [1])
  t.equal(signed.status, 200, 'part URLs are still signed (documented: no storage call)')
  const put = await fetch(signed.body.parts[0].url as string, { method: 'PUT', body: randomBytes(1024) })
  t.equal(put.status, 404, 'storage answers 404 to a part of an aborted upload')
  t.match(await put.text(), /NoSuchUpload/)
  await t.rejects(s3Client().send(new HeadObjectCommand({ Bucket: app.bucket, Key: key })), 'no object was created')
})

t.test('a part URL with its part number, upload ID, key or length altered gets 403; so does an expired one', async (t) => {
  const app = await buildWithStorage(t)
  const api = multipartApi(app, 'users/alice/tamper.bin')
  // Part 1: 5 MiB; part 2 (the one these PUTs use): the 9 bytes of 'part body'.
  const plan = { size: 5 * MiB + 9, partSize: 5 * MiB }
  const { uploadId } = await create(t, api, plan)
  const otherUpload = await create(t, multipartApi(app, 'users/alice/tamper.bin'), plan)
  const signed = await api.partUrls(uploadId as string, [2])
  const url = signed.body.parts[0].url as string
  const put = async (target: string, init: RequestInit = {}) => (await fetch(target, { method: 'PUT', body: 'part body', ...init })).status

  t.match(url, /[?&]partNumber=2&/)
  t.equal(await put(url.replace('partNumber=2&', 'partNumber=1&')), 403, 'another part number')
  t.equal(await put(url.replace(`uploadId=${encodeURIComponent(uploadId as string)}`, `uploadId=${encodeURIComponent(otherUpload.uploadId as string)}`)), 403, 'another (valid) upload ID')
  const lastChar = (uploadId as string).slice(-1)
  t.equal(await put(url.replace(`${encodeURIComponent(uploadId as string)}&`, `${encodeURIComponent((uploadId as string).slice(0, -1) + (lastChar === 'A' ? 'B' : 'A'))}&`)), 403, 'an altered upload ID')
  t.equal(await put(url.replace('/tamper.bin?', '/tamper2.bin?')), 403, 'another key')
  t.equal(await put(url, { body: 'part body!' }), 403, 'one byte more than planned')
  t.equal(await put(url, { body: 'part bod' }), 403, 'one byte less than planned')
  t.equal(await put(url.replace(/X-Amz-Expires=\d+/, 'X-Amz-Expires=604800')), 403, 'a longer expiry')
  t.equal(await put(url), 200, 'the URL as signed works')

  const expiring = await api.partUrls(uploadId as string, [2], { expiresIn: 1 })
  t.equal(expiring.body.expiresIn, 1)
  await sleep(Date.parse(expiring.body.parts[0].expiresAt as string) - Date.now() + 1500)
  t.equal(await put(expiring.body.parts[0].url as string), 403, 'refused after expiresAt')

  // Signed an hour ago for ten minutes, straight through the signer.
  const presigner = createPresigner({ ...testStorage(), forcePathStyle: true })
  const stale = presigner.presign({ operation: 'UploadPart', bucket: app.bucket, key: 'users/alice/tamper.bin', expiresIn: 600, partNumber: 3, uploadId: uploadId as string, signingDate: new Date(Date.now() - 3600_000) })
  t.equal(await put(stale.url), 403, 'a part URL signed an hour ago for ten minutes')

  const listed = await api.listParts(uploadId as string)
  t.same(listed.body.parts.map((p: Json) => p.partNumber), [2], 'only the untampered PUT stored a part')
  await api.abort(uploadId as string)
  await api.abort(otherUpload.uploadId as string)
})

t.test('complete checks the parts first: a missing part, a wrong size or ETag is 400 UPLOAD_INCOMPLETE and the upload stays completable', async (t) => {
  const app = await buildWithStorage(t)
  const key = 'users/alice/incomplete.bin'
  const api = multipartApi(app, key)
  const data = randomBytes(5 * MiB + 5)
  const { uploadId } = await create(t, api, { size: data.length, partSize: 5 * MiB })
  const all = slices(data, 5 * MiB)
  const etags = await putParts(t, api, uploadId as string, new Map([[2, all.get(2) as Buffer]]))
  const etag2 = etags.get(2) as string

  const missing = assertProblem(t, await api.complete(uploadId as string, [{ partNumber: 2, etag: etag2 }]), 400, 'UPLOAD_INCOMPLETE', 'part 1 missing')
  t.match(missing.detail, /part 1 is missing/, 'the detail names the missing part')
  const beyond = assertProblem(t, await api.complete(uploadId as string, [{ partNumber: 2, etag: etag2 }, { partNumber: 3, etag: etag2 }]), 400, 'UPLOAD_INCOMPLETE')
  t.match(beyond.detail, /part 3 is beyond the plan's 2 parts/)
  assertProblem(t, await api.complete(uploadId as string, [{ partNumber: 2, etag: etag2 }, { partNumber: 1, etag: etag2 }]), 400, 'INVALID_REQUEST', 'descending order (refused before storage)')

  const [etag1] = [...(await putParts(t, api, uploadId as string, new Map([[1, all.get(1) as Buffer]]))).values()]
  const wrongEtag = assertProblem(t, await api.complete(uploadId as string, [{ partNumber: 1, etag: '"00000000000000000000000000000000"' }, { partNumber: 2, etag: etag2 }]), 400, 'UPLOAD_INCOMPLETE', 'a wrong ETag')
  t.match(wrongEtag.detail, /part 1's ETag is not the one storage holds/)
  t.same((await api.listParts(uploadId as string)).body.parts.map((p: Json) => p.partNumber), [1, 2], 'the refused completions left the upload intact')

  const completed = await api.complete(uploadId as string, [{ partNumber: 1, etag: etag1 as string }, { partNumber: 2, etag: etag2 }])
  t.equal(completed.status, 200, 'once every part is there, it completes')
  t.ok((await download(t, app, key)).bytes.equals(data), 'identical bytes')
})

t.test('a part of another size than planned is refused by storage itself (403), whatever the client claims', async (t) => {
  const app = await buildWithStorage(t)
  const api = multipartApi(app, 'users/alice/sized.bin')
  const { uploadId } = await create(t, api, { size: 5 * MiB + 100, partSize: 5 * MiB })
  const signed = await api.partUrls(uploadId as string, [1, 2])
  const [first, last] = signed.body.parts as Json[]
  t.equal((await fetch(first?.url as string, { method: 'PUT', body: randomBytes(100) })).status, 403, 'the last part\'s bytes through part 1\'s URL')
  t.equal((await fetch(last?.url as string, { method: 'PUT', body: randomBytes(101) })).status, 403, 'one byte more than the rest')
  t.equal((await fetch(last?.url as string, { method: 'PUT', body: randomBytes(100) })).status, 200, 'exactly the rest')
  t.same((await api.listParts(uploadId as string)).body.parts.map((p: Json) => [p.partNumber, p.size]), [[2, 100]], 'storage holds only the planned part')
  assertProblem(t, await api.partUrls(uploadId as string, [3]), 400, 'INVALID_REQUEST', 'a part number above partCount')
  await api.abort(uploadId as string)
})

t.test('an altered uploadToken (each bound field in turn), another upload\'s, or none is 400 INVALID_UPLOAD_TOKEN', async (t) => {
  const app = await buildWithStorage(t)
  const key = 'users/alice/token.bin'
  const api = multipartApi(app, key)
  const { uploadId, uploadToken } = await create(t, api, { size: 5 * MiB + 1, partSize: 5 * MiB, contentType: 'video/mp4' })
  const other = await create(t, multipartApi(app, 'users/alice/token-other.bin'), { size: 10 })
  const [version, payload, mac] = (uploadToken as string).split('.') as [string, string, string]
  const fields = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Json
  t.same(Object.keys(fields).sort(), ['b', 'c', 'e', 'k', 'm', 'p', 's', 't', 'u', 'w'], 'upload ID, bucket, key, size, part size, content type, limits, expiry')
  const changed: Json = { u: `${uploadId as string}x`, b: 'other-bucket', k: 'users/alice/elsewhere.bin', s: 10 * MiB, p: 6 * MiB, t: 'text/html', m: 1, c: [['image/*']], w: true, e: fields.e + 3600 }
  for (const [field, value] of Object.entries(changed)) {
    const altered = `${version}.${Buffer.from(JSON.stringify({ ...fields, [field]: value })).toString('base64url')}.${mac}`
    assertProblem(t, await api.partUrls(uploadId as string, [1], { uploadToken: altered }), 400, 'INVALID_UPLOAD_TOKEN', `part-urls, ${field} altered`)
    assertProblem(t, await api.complete(uploadId as string, [{ partNumber: 1, etag: '"00"' }], { uploadToken: altered }), 400, 'INVALID_UPLOAD_TOKEN', `complete, ${field} altered`)
  }
  const flipped = mac.startsWith('A') ? `B${mac.slice(1)}` : `A${mac.slice(1)}`
  assertProblem(t, await api.partUrls(uploadId as string, [1], { uploadToken: `${version}.${payload}.${flipped}` }), 400, 'INVALID_UPLOAD_TOKEN', 'the MAC altered')
  assertProblem(t, await api.partUrls(uploadId as string, [1], { uploadToken: other.uploadToken }), 400, 'INVALID_UPLOAD_TOKEN', 'another upload\'s token')
  assertProblem(t, await multipartApi(app, 'users/alice/elsewhere.bin').partUrls(uploadId as string, [1], { uploadToken }), 400, 'INVALID_UPLOAD_TOKEN', 'the token under another key')
  assertProblem(t, await api.partUrls(uploadId as string, [1], { uploadToken: undefined }), 400, 'INVALID_UPLOAD_TOKEN', 'no token')
  t.equal((await api.listParts(uploadId as string)).status, 200, 'listing needs no token')
  t.equal((await api.abort(uploadId as string)).status, 204, 'nor does abort: clean-up is always possible')
  t.notOk(app.logText().includes(uploadToken as string), 'the token is never logged')
  await multipartApi(app, 'users/alice/token-other.bin').abort(other.uploadId as string)
})

t.test('write-once: 412 OBJECT_EXISTS at create when the key exists, and at complete when it appeared meanwhile', async (t) => {
  const app = await buildWithStorage(t)
  const s3 = s3Client()
  t.teardown(() => s3.destroy())
  const key = 'users/alice/once.bin'
  const api = multipartApi(app, key)
  const { uploadId } = await create(t, api, { size: 10, writeOnce: true })
  await s3.send(new PutObjectCommand({ Bucket: app.bucket, Key: key, Body: 'first' }))
  const etags = await putParts(t, api, uploadId as string, new Map([[1, Buffer.from('0123456789')]]))
  assertProblem(t, await api.complete(uploadId as string, [{ partNumber: 1, etag: etags.get(1) as string }]), 412, 'OBJECT_EXISTS', 'complete after another writer')
  const kept = await s3.send(new GetObjectCommand({ Bucket: app.bucket, Key: key }))
  t.equal(await kept.Body?.transformToString(), 'first', 'the existing object is untouched')
  assertProblem(t, await api.create({ size: 10, writeOnce: true }), 412, 'OBJECT_EXISTS', 'create for an existing key')
  t.equal((await api.create({ size: 10 })).status, 201, 'without write-once, replacing is allowed')
  await api.abort(uploadId as string)
})

t.test('the permission service\'s limits bound multipart uploads: 413 above maxBytes, 403 outside contentTypes, write-once forced', async (t) => {
  const limits = { maxBytes: 6 * MiB, contentTypes: ['video/*'], writeOnce: true }
  const app = await buildWithStorage(t, { permissions: (_check, res) => json(res, 200, { allowed: true, limits }) })
  const s3 = s3Client()
  t.teardown(() => s3.destroy())
  const api = multipartApi(app, 'users/alice/limited.mp4')
  const tooLarge = assertProblem(t, await api.create({ size: 6 * MiB + 1, contentType: 'video/mp4' }), 413, 'UPLOAD_TOO_LARGE')
  t.match(tooLarge.detail, /at most 6291456 bytes/, 'the detail names the limit')
  assertProblem(t, await api.create({ size: MiB, contentType: 'text/html' }), 403, 'CONTENT_TYPE_NOT_ALLOWED')
  await s3.send(new PutObjectCommand({ Bucket: app.bucket, Key: 'users/alice/limited.mp4', Body: 'x' }))
  assertProblem(t, await api.create({ size: MiB, contentType: 'video/mp4', writeOnce: false }), 412, 'OBJECT_EXISTS', 'a request cannot switch the policy\'s write-once off')
  const fresh = multipartApi(app, 'users/alice/limited-new.mp4')
  const created = await create(t, fresh, { size: 6 * MiB, contentType: 'video/mp4' })
  await fresh.abort(created.uploadId as string)
})

t.test('an upload ID belongs to its key', async (t) => {
  const app = await buildWithStorage(t)
  const { uploadId, uploadToken } = await create(t, multipartApi(app, 'users/alice/mine.bin'))
  const other = multipartApi(app, 'users/alice/other.bin')
  assertProblem(t, await other.listParts(uploadId as string), 404, 'UPLOAD_NOT_FOUND', 'list under another key')
  assertProblem(t, await other.abort(uploadId as string), 404, 'UPLOAD_NOT_FOUND', 'abort under another key')
  assertProblem(t, await other.partUrls(uploadId as string, [1], { uploadToken }), 400, 'INVALID_UPLOAD_TOKEN', 'part URLs under another key')
  // Straight through the signer: storage itself refuses the part under another key.
  const presigner = createPresigner({ ...testStorage(), forcePathStyle: true })
  const stray = presigner.presign({ operation: 'UploadPart', bucket: app.bucket, key: 'users/alice/other.bin', expiresIn: 60, partNumber: 1, uploadId: uploadId as string })
  const put = await fetch(stray.url, { method: 'PUT', body: 'x' })
  t.equal(put.status, 404, 'storage refuses a part PUT under another key')
  t.equal((await multipartApi(app, 'users/alice/mine.bin').abort(uploadId as string)).status, 204, 'the upload itself is untouched')
})

t.test('storage refusing r2-signer itself is a 502, never a 500 with a stack', async (t) => {
  const wrongSecret = 'not-the-storage-secret-' + randomBytes(8).toString('hex')
  // warn: the storage self-test cannot run with a wrong secret either, and would refuse the writes first.
  const app = await buildWithStorage(t, { env: { S3_SECRET_ACCESS_KEY: wrongSecret, STORAGE_UNSAFE_HEADERS: 'warn' } })
  const api = multipartApi(app, 'users/alice/x.bin')
  assertProblem(t, await api.create(), 502, 'STORAGE_ERROR', 'create with a wrong secret')
  assertProblem(t, await api.listParts('2~whatever'), 502, 'STORAGE_ERROR', 'list with a wrong secret')
  const line = app.logs.find((entry) => entry.msg === 'storage call failed')
  t.match(line, { level: 50, problem: 'STORAGE_ERROR', storage: { operation: 'CreateMultipartUpload', code: 'SignatureDoesNotMatch', status: 403 } }, 'the storage error is logged for the operator')
  t.notMatch(app.logText(), wrongSecret, 'the secret is never logged')

  const missing = await buildWithStorage(t, { env: { S3_ALLOWED_BUCKETS: 'bucket-that-does-not-exist' } })
  assertProblem(t, await multipartApi(missing, 'users/alice/x.bin', 'bucket-that-does-not-exist').create(), 502, 'STORAGE_ERROR', 'an allowed bucket missing at storage')
})
