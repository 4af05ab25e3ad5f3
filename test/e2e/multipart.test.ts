/**
 * Multipart uploads end to end against Ceph RGW: the browser's part of the flow is played with
 * fetch on the presigned part URLs, r2-signer's control-plane calls go to the real store.
 */
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { HeadObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3'
import { buildWithStorage, signUrl, assertProblem, multipartApi, type Json } from '../helpers/app.js'
import { s3Client, testStorage } from '../helpers/storage.js'
import { tokenFor } from '../helpers/tokens.js'
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
  t.match(answer.body, { uploadId: String, bucket: String, key: String, partSize: Number })
  return answer.body
}

/** Signs URLs for `parts` (number → bytes) and PUTs them as a browser would; returns part number → ETag. */
async function putParts (t: Test, api: Api, uploadId: string, parts: Map<number, Buffer>): Promise<Map<number, string>> {
  const signed = await api.partUrls(uploadId, [...parts.keys()])
  t.equal(signed.status, 200, 'part URLs signed')
  t.same(signed.body.headers, { 'content-type': 'application/octet-stream' }, 'the one header a part PUT must send')
  const etags = new Map<number, string>()
  await Promise.all((signed.body.parts as Json[]).map(async ({ partNumber, url }) => {
    const response = await fetch(url as string, { method: 'PUT', headers: signed.body.headers as Record<string, string>, body: parts.get(partNumber as number) })
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
  t.same({ ...created, uploadId: undefined }, { uploadId: undefined, bucket: app.bucket, key, partSize: 5 * MiB, partCount: 3 }, 'the plan: three parts of 5 MiB, the last 12,345 bytes')
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
  const unsized = await create(t, multipartApi(app, 'users/alice/unsized.bin'))
  t.equal(unsized.partSize, 8 * MiB, 'without size: the default part size, no count')
  t.notOk('partCount' in unsized)

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
  const { uploadId } = await create(t, api, { size: 6 * MiB })
  const etags = await putParts(t, api, uploadId as string, new Map([[1, randomBytes(1024)]]))

  const aborted = await api.abort(uploadId as string)
  t.equal(aborted.status, 204, 'abort answers 204')
  t.equal(aborted.text, '', 'with no body')

  assertProblem(t, await api.listParts(uploadId as string), 404, 'UPLOAD_NOT_FOUND', 'list')
  assertProblem(t, await api.complete(uploadId as string, [{ partNumber: 1, etag: etags.get(1) as string }]), 404, 'UPLOAD_NOT_FOUND', 'complete')
  assertProblem(t, await api.abort(uploadId as string), 404, 'UPLOAD_NOT_FOUND', 'a second abort')

  // Signing part URLs makes no storage call, so it cannot know; storage refuses the PUT itself.
  const signed = await api.partUrls(uploadId as string, [2])
  t.equal(signed.status, 200, 'part URLs are still signed (documented: no storage call)')
  const put = await fetch(signed.body.parts[0].url as string, { method: 'PUT', headers: signed.body.headers as Record<string, string>, body: 'late' })
  t.equal(put.status, 404, 'storage answers 404 to a part of an aborted upload')
  t.match(await put.text(), /NoSuchUpload/)
  await t.rejects(s3Client().send(new HeadObjectCommand({ Bucket: app.bucket, Key: key })), 'no object was created')
})

t.test('a part URL with its part number, upload ID, key or header altered gets 403; so does an expired one', async (t) => {
  const app = await buildWithStorage(t)
  const api = multipartApi(app, 'users/alice/tamper.bin')
  const { uploadId } = await create(t, api)
  const otherUpload = await create(t, multipartApi(app, 'users/alice/tamper.bin'))
  const signed = await api.partUrls(uploadId as string, [1])
  const url = signed.body.parts[0].url as string
  const headers = signed.body.headers as Record<string, string>
  const put = async (target: string, init: RequestInit = {}) => (await fetch(target, { method: 'PUT', headers, body: 'part body', ...init })).status

  t.match(url, /[?&]partNumber=1&/)
  t.equal(await put(url.replace('partNumber=1&', 'partNumber=2&')), 403, 'another part number')
  t.equal(await put(url.replace(`uploadId=${encodeURIComponent(uploadId as string)}`, `uploadId=${encodeURIComponent(otherUpload.uploadId as string)}`)), 403, 'another (valid) upload ID')
  const lastChar = (uploadId as string).slice(-1)
  t.equal(await put(url.replace(`${encodeURIComponent(uploadId as string)}&`, `${encodeURIComponent((uploadId as string).slice(0, -1) + (lastChar === 'A' ? 'B' : 'A'))}&`)), 403, 'an altered upload ID')
  t.equal(await put(url.replace('/tamper.bin?', '/tamper2.bin?')), 403, 'another key')
  t.equal(await put(url, { headers: { 'content-type': 'video/mp4' } }), 403, 'another Content-Type')
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
  t.same(listed.body.parts.map((p: Json) => p.partNumber), [1], 'only the untampered PUT stored a part')
  await api.abort(uploadId as string)
  await api.abort(otherUpload.uploadId as string)
})

t.test('storage refusing the parts maps to 400 problems', async (t) => {
  const app = await buildWithStorage(t)
  const api = multipartApi(app, 'users/alice/refused.bin')
  const { uploadId } = await create(t, api)
  const etags = await putParts(t, api, uploadId as string, new Map([[1, Buffer.from('tiny')], [2, Buffer.from('parts')]]))
  const [etag1, etag2] = [etags.get(1) as string, etags.get(2) as string]

  assertProblem(t, await api.complete(uploadId as string, [{ partNumber: 1, etag: '"00000000000000000000000000000000"' }]), 400, 'INVALID_PART', 'a wrong ETag')
  assertProblem(t, await api.complete(uploadId as string, [{ partNumber: 5, etag: etag2 }]), 400, 'INVALID_PART', 'a part never uploaded')
  assertProblem(t, await api.complete(uploadId as string, [{ partNumber: 1, etag: etag1 }, { partNumber: 2, etag: etag2 }]), 400, 'PART_TOO_SMALL', 'a first part under 5 MiB')
  assertProblem(t, await api.complete(uploadId as string, [{ partNumber: 2, etag: etag2 }, { partNumber: 1, etag: etag1 }]), 400, 'INVALID_REQUEST', 'descending order (refused before storage)')
  t.equal((await api.abort(uploadId as string)).status, 204, 'a refused upload can still be aborted')
  await t.rejects(s3Client().send(new HeadObjectCommand({ Bucket: app.bucket, Key: 'users/alice/refused.bin' })), 'no object was created')
})

t.test('an upload ID belongs to its key', async (t) => {
  const app = await buildWithStorage(t)
  const { uploadId } = await create(t, multipartApi(app, 'users/alice/mine.bin'))
  const other = multipartApi(app, 'users/alice/other.bin')
  assertProblem(t, await other.listParts(uploadId as string), 404, 'UPLOAD_NOT_FOUND', 'list under another key')
  assertProblem(t, await other.abort(uploadId as string), 404, 'UPLOAD_NOT_FOUND', 'abort under another key')
  const signed = await other.partUrls(uploadId as string, [1])
  const put = await fetch(signed.body.parts[0].url as string, { method: 'PUT', headers: signed.body.headers as Record<string, string>, body: 'x' })
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
