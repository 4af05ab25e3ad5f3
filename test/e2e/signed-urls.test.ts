/**
 * End to end against Ceph RGW, which verifies SigV4 exactly as S3 does: URLs from
 * r2-signer work for what they were signed for, and for nothing else.
 */
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
import { buildWithStorage, signUrl } from '../helpers/app.js'
import { s3Client, testStorage } from '../helpers/storage.js'
import { bearer, tokenFor } from '../helpers/tokens.js'
import { json } from '../helpers/permission-stub.js'
import { createPresigner } from '../../src/signing/presigner.js'

const token = tokenFor('alice')

async function upload (t: Parameters<typeof signUrl>[0], app: Parameters<typeof signUrl>[1], key: string, body: Buffer | string, contentType = 'application/octet-stream') {
  const signed = await signUrl(t, app, 'upload-urls', { key, contentType, contentLength: Buffer.byteLength(body) }, token)
  const response = await fetch(signed.url, { method: 'PUT', headers: signed.headers, body })
  t.equal(response.status, 200, `storage accepts the upload of ${JSON.stringify(key).slice(0, 60)}`)
  return signed
}

async function download (t: Parameters<typeof signUrl>[0], app: Parameters<typeof signUrl>[1], key: string, extra: object = {}) {
  const signed = await signUrl(t, app, 'download-urls', { key, ...extra }, token)
  return { signed, response: await fetch(signed.url) }
}

t.test('an upload URL stores the bytes and a download URL returns them, byte for byte', async (t) => {
  const app = await buildWithStorage(t)
  const body = randomBytes(256 * 1024 + 7)
  await upload(t, app, 'users/alice/video.bin', body, 'video/mp4')
  const { response } = await download(t, app, 'users/alice/video.bin')
  t.equal(response.status, 200)
  t.equal(response.headers.get('content-type'), 'video/mp4', 'the signed content type was stored')
  t.ok(Buffer.from(await response.arrayBuffer()).equals(body), 'identical bytes')

  const head = await signUrl(t, app, 'download-urls', { key: 'users/alice/video.bin', method: 'HEAD' }, token)
  t.equal(head.method, 'HEAD')
  const headResponse = await fetch(head.url, { method: 'HEAD' })
  t.equal(headResponse.status, 200, 'HEAD URL works with HEAD')
  t.equal(headResponse.headers.get('content-length'), String(body.length))
  t.equal((await fetch(head.url)).status, 403, 'a HEAD URL does not work as GET')
})

t.test('a Range request through a download URL gets 206 with exactly those bytes', async (t) => {
  const app = await buildWithStorage(t)
  const body = randomBytes(100_000)
  await upload(t, app, 'media/clip.mp4', body, 'video/mp4')
  const signed = await signUrl(t, app, 'download-urls', { key: 'media/clip.mp4' }, token)
  const response = await fetch(signed.url, { headers: { range: 'bytes=1000-1999' } })
  t.equal(response.status, 206)
  t.equal(response.headers.get('content-range'), `bytes 1000-1999/${body.length}`)
  t.ok(Buffer.from(await response.arrayBuffer()).equals(body.subarray(1000, 2000)), 'the requested range')
  const tail = await fetch(signed.url, { headers: { range: 'bytes=-10' } })
  t.equal(tail.status, 206)
  t.ok(Buffer.from(await tail.arrayBuffer()).equals(body.subarray(-10)), 'a suffix range')
})

t.test('storage answers 403 once a URL has expired', async (t) => {
  const app = await buildWithStorage(t)
  await upload(t, app, 'expiring.txt', 'soon gone', 'text/plain')
  const signed = await signUrl(t, app, 'download-urls', { key: 'expiring.txt', expiresIn: 1 }, token)
  t.equal((await fetch(signed.url)).status, 200, 'works while fresh')
  await sleep(Date.parse(signed.expiresAt) - Date.now() + 1500)
  t.equal((await fetch(signed.url)).status, 403, 'refused after expiresAt')

  // The same through the signer directly, signed an hour ago for ten minutes.
  const storage = testStorage()
  const presigner = createPresigner({ ...storage, forcePathStyle: true })
  const stale = presigner.presign({ operation: 'GetObject', bucket: app.bucket, key: 'expiring.txt', expiresIn: 600, signingDate: new Date(Date.now() - 3600_000) })
  t.equal((await fetch(stale.url)).status, 403, 'a URL signed an hour ago for ten minutes is refused')
  const upload2 = presigner.presign({ operation: 'PutObject', bucket: app.bucket, key: 'expiring.txt', expiresIn: 600, signingDate: new Date(Date.now() - 3600_000), headers: { 'content-type': 'text/plain' } })
  t.equal((await fetch(upload2.url, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'x' })).status, 403, 'an expired upload URL is refused')
})

t.test('a URL with its key, method, expiry or signature altered gets 403', async (t) => {
  const app = await buildWithStorage(t)
  await upload(t, app, 'docs/a.txt', 'A', 'text/plain')
  await upload(t, app, 'docs/b.txt', 'B', 'text/plain')
  const signed = await signUrl(t, app, 'download-urls', { key: 'docs/a.txt' }, token)
  t.equal((await fetch(signed.url)).status, 200, 'the URL as signed works')

  t.equal((await fetch(signed.url.replace('/docs/a.txt?', '/docs/b.txt?'))).status, 403, 'another key')
  t.equal((await fetch(signed.url.replace(`/${app.bucket}/`, `/${app.otherBucket}/`))).status, 403, 'another bucket')
  t.equal((await fetch(signed.url, { method: 'PUT', body: 'overwrite', headers: { 'content-type': 'text/plain' } })).status, 403, 'PUT with a GET URL')
  t.equal((await fetch(signed.url, { method: 'DELETE' })).status, 403, 'DELETE with a GET URL')
  t.equal((await fetch(signed.url.replace(/X-Amz-Expires=\d+/, 'X-Amz-Expires=604800'))).status, 403, 'a longer expiry')
  const signature = /X-Amz-Signature=([0-9a-f]{64})/.exec(signed.url)?.[1] ?? ''
  const flipped = signature.slice(0, -1) + (signature.endsWith('0') ? '1' : '0')
  t.equal((await fetch(signed.url.replace(signature, flipped))).status, 403, 'a different signature')
  t.equal((await fetch(signed.url.replace(/&?X-Amz-Signature=[0-9a-f]{64}/, ''))).status, 403, 'no signature')

  const after = await s3Client().send(new GetObjectCommand({ Bucket: app.bucket, Key: 'docs/a.txt' }))
  t.equal(await after.Body?.transformToString(), 'A', 'the object was not overwritten')
})

t.test('an upload is bound to its signed headers: content type, length and MD5', async (t) => {
  const app = await buildWithStorage(t)
  const typed = await signUrl(t, app, 'upload-urls', { key: 'up/typed.txt', contentType: 'text/plain', contentLength: 8 }, token)
  t.same(typed.headers, { 'content-type': 'text/plain', 'content-length': '8' })
  t.equal((await fetch(typed.url, { method: 'PUT', headers: { 'content-type': 'text/html' }, body: '<script>' })).status, 403, 'another Content-Type')
  t.equal((await fetch(typed.url, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: '<script>!' })).status, 403, 'another length: refused by storage')
  t.equal((await fetch(typed.url, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: '<script' })).status, 403, 'a shorter body too')
  t.equal((await fetch(typed.url, { method: 'PUT', headers: typed.headers, body: 'eight by' })).status, 200, 'exactly the signed length and type')

  const body = Buffer.from('exactly these bytes')
  const md5 = createHash('md5').update(body).digest('base64')
  const bound = await signUrl(t, app, 'upload-urls', { key: 'up/bound.txt', contentType: 'text/plain', contentLength: body.length, contentMd5: md5 }, token)
  t.same(bound.headers, { 'content-type': 'text/plain', 'content-length': String(body.length), 'content-md5': md5 })
  t.equal((await fetch(bound.url, { method: 'PUT', headers: { 'content-type': 'text/plain', 'content-md5': md5 }, body: Buffer.concat([body, Buffer.from('!')]) })).status, 403, 'another length')
  const tampered = Buffer.from(body)
  tampered[0] = 0x45
  const badDigest = await fetch(bound.url, { method: 'PUT', headers: bound.headers, body: tampered })
  t.equal(badDigest.status, 400, 'a body whose MD5 differs is refused (BadDigest)')
  t.match(await badDigest.text(), /BadDigest/)
  await t.rejects(s3Client().send(new HeadObjectCommand({ Bucket: app.bucket, Key: 'up/bound.txt' })), 'nothing was stored by the refused uploads')

  const ok = await fetch(bound.url, { method: 'PUT', headers: bound.headers, body })
  t.equal(ok.status, 200, 'the exact upload succeeds')
  t.equal(ok.headers.get('etag'), `"${createHash('md5').update(body).digest('hex')}"`)
})

t.test('keys with unicode and reserved characters round-trip byte for byte', async (t) => {
  const app = await buildWithStorage(t)
  const nfc = 'users/alice/caf\u00e9.txt'
  const nfd = 'users/alice/cafe\u0301.txt'
  const keys = [
    'users/alice/with space.txt',
    'users/alice/plus+and%percent.txt',
    'users/alice/hash#question?amp&equals=semi;colon:at@dollar$comma,.txt',
    "users/alice/bang!quote'paren(star)*tilde~.txt",
    'users/alice/brackets[]{}|^`<>"\\.txt',
    'users/alice/日本語/ファイル.txt',
    'users/alice/emoji-🎬-𝄞.txt',
    'users/alice/עברית-العربية.txt',
    nfc,
    nfd,
    'users/alice/' + 'é'.repeat(500)
  ]
  for (const [index, key] of keys.entries()) {
    await upload(t, app, key, `content ${index}`, 'text/plain')
    const { signed, response } = await download(t, app, key)
    t.equal(signed.key, key, `the answer echoes the key unchanged: ${key.slice(0, 40)}`)
    t.equal(response.status, 200, `downloads ${key.slice(0, 40)}`)
    t.equal(await response.text(), `content ${index}`, `the content of ${key.slice(0, 40)}`)
  }
  const listed = await s3Client().send(new ListObjectsV2Command({ Bucket: app.bucket, Prefix: 'users/alice/' }))
  const stored = new Set((listed.Contents ?? []).map((object) => object.Key))
  t.same([...stored].sort(), [...keys].sort(), 'storage holds exactly these keys, byte for byte')
  t.ok(stored.has(nfc) && stored.has(nfd), 'NFC and NFD spellings are two objects')
})

t.test('download options become response overrides that storage applies', async (t) => {
  const app = await buildWithStorage(t)
  await upload(t, app, 'reports/q3.pdf', '%PDF-1.4 fake', 'application/pdf')
  const inline = await download(t, app, 'reports/q3.pdf', { disposition: 'inline' })
  t.equal(inline.response.headers.get('content-disposition'), 'inline')

  const named = await download(t, app, 'reports/q3.pdf', { filename: 'Q3 report.pdf' })
  t.equal(named.response.status, 200)
  t.equal(named.response.headers.get('content-disposition'), 'attachment; filename="Q3 report.pdf"')

  const unicode = await download(t, app, 'reports/q3.pdf', { filename: 'Überblick 2026 — "final".pdf', disposition: 'inline', contentType: 'application/pdf; charset=binary' })
  t.equal(unicode.response.status, 200)
  t.equal(unicode.response.headers.get('content-disposition'),
    'inline; filename="_berblick 2026 _ _final_.pdf"; filename*=UTF-8\'\'%C3%9Cberblick%202026%20%E2%80%94%20%22final%22.pdf')
  t.equal(unicode.response.headers.get('content-type'), 'application/pdf; charset=binary')
})

t.test('a request may name an allowed bucket other than the default', async (t) => {
  const app = await buildWithStorage(t)
  const signed = await signUrl(t, app, 'upload-urls', { key: 'x.txt', bucket: app.otherBucket, contentType: 'text/plain', contentLength: 5 }, token)
  t.equal(signed.bucket, app.otherBucket)
  t.equal((await fetch(signed.url, { method: 'PUT', headers: signed.headers, body: 'other' })).status, 200)
  const stored = await s3Client().send(new GetObjectCommand({ Bucket: app.otherBucket, Key: 'x.txt' }))
  t.equal(await stored.Body?.transformToString(), 'other', 'the object landed in the named bucket')
})

t.test('write-once: storage itself answers 412 to a second PUT, from the request or from the permission service\'s limits', async (t) => {
  const app = await buildWithStorage(t)
  const once = async (key: string, body: string) => {
    const signed = await signUrl(t, app, 'upload-urls', { key, contentType: 'text/plain', contentLength: body.length, writeOnce: true }, token)
    t.equal(signed.headers['if-none-match'], '*')
    return (await fetch(signed.url, { method: 'PUT', headers: signed.headers, body })).status
  }
  t.equal(await once('up/once.txt', 'first'), 200, 'the first write')
  t.equal(await once('up/once.txt', 'again'), 412, 'the second: 412 Precondition Failed from storage')
  const kept = await s3Client().send(new GetObjectCommand({ Bucket: app.bucket, Key: 'up/once.txt' }))
  t.equal(await kept.Body?.transformToString(), 'first', 'the object is unchanged')

  const signed = await signUrl(t, app, 'upload-urls', { key: 'up/once.txt', contentType: 'text/plain', contentLength: 5, writeOnce: true }, token)
  const { 'if-none-match': _dropped, ...withoutPrecondition } = signed.headers
  t.equal((await fetch(signed.url, { method: 'PUT', headers: withoutPrecondition, body: 'third' })).status, 403, 'dropping the signed if-none-match: 403')

  const limited = await buildWithStorage(t, { permissions: (_check, res) => json(res, 200, { allowed: true, limits: { maxBytes: 5, writeOnce: true } }) })
  const policy = await signUrl(t, limited, 'upload-urls', { key: 'up/policy.txt', contentType: 'text/plain', contentLength: 5 }, token)
  t.equal(policy.headers['if-none-match'], '*', 'write-once from the limits without asking')
  t.equal((await fetch(policy.url, { method: 'PUT', headers: policy.headers, body: 'first' })).status, 200)
  t.equal((await fetch(policy.url, { method: 'PUT', headers: policy.headers, body: 'again' })).status, 412, 'storage refuses the overwrite')
  const tooBig = await limited.post('/v1/upload-urls', { key: 'up/big.txt', contentType: 'text/plain', contentLength: 6 }, bearer(token))
  t.equal(tooBig.status, 413, 'above the limit: no URL')
})
