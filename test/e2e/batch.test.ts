/**
 * End to end against Ceph RGW (which verifies SigV4): the URLs of one POST /v1/batch work for
 * what they were signed for, through the batch permission endpoint: PUT with the signed headers
 * 200 (another length 403, write-once 412 on an existing key), GET and HEAD 200, in another
 * allowed bucket too; a refused item carries no URL.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { buildWithStorage, expectOk, type Json } from '../helpers/app.js'
import { json } from '../helpers/permission-stub.js'
import { bearer, tokenFor } from '../helpers/tokens.js'

t.test('a batch of upload URLs, then a batch of download URLs, against Ceph', async (t) => {
  const app = await buildWithStorage(t, {
    batchPermissions: true,
    permissions: (check, res) => {
      if (check.path !== '/batch') return json(res, 200, { allowed: true })
      const { checks } = check.body as { checks: Array<{ key: string }> }
      json(res, 200, { results: checks.map((c) => ({ allowed: !c.key.includes('bob') })) })
    }
  })
  const alice = bearer(tokenFor('alice'))
  const files = Array.from({ length: 5 }, (_, i) => ({ key: `users/alice/batch/${i}.bin`, body: randomBytes(1000 + i) }))

  const uploads = (await expectOk(t, await app.post('/v1/batch', {
    expiresIn: 300,
    items: [
      ...files.map(({ key, body }) => ({ op: 'upload', key, contentType: 'application/octet-stream', contentLength: body.length })),
      { op: 'upload', key: 'users/alice/batch/once.txt', contentType: 'text/plain', contentLength: 4, writeOnce: true },
      { op: 'upload', key: 'users/alice/batch/other.txt', bucket: app.otherBucket, contentType: 'text/plain', contentLength: 5 },
      { op: 'upload', key: 'users/bob/batch/x.txt', contentType: 'text/plain', contentLength: 1 }
    ]
  }, alice))).items as Json[]
  t.same(uploads.map((item) => item.status), [200, 200, 200, 200, 200, 200, 200, 403])
  t.equal(app.permissions.received.filter((check) => check.path === '/batch').length, 1, 'one permission round trip')

  for (const [index, { body }] of files.entries()) {
    const { url, headers } = uploads[index] as { url: string, headers: Record<string, string> }
    // fetch sets Content-Length from the body: one byte more than signed.
    const { 'content-length': _signedLength, ...otherHeaders } = headers
    t.equal((await fetch(url, { method: 'PUT', headers: otherHeaders, body: randomBytes(body.length + 1) })).status, 403, `item ${index}: another length is refused by storage`)
    t.equal((await fetch(url, { method: 'PUT', headers, body })).status, 200, `item ${index}: PUT with the signed headers is stored`)
  }
  const once = uploads[5] as { url: string, headers: Record<string, string> }
  t.equal(once.headers['if-none-match'], '*')
  t.equal((await fetch(once.url, { method: 'PUT', headers: once.headers, body: 'once' })).status, 200, 'write-once: the first PUT is stored')
  t.equal((await fetch(once.url, { method: 'PUT', headers: once.headers, body: 'once' })).status, 412, 'write-once: storage refuses to overwrite')
  const other = uploads[6] as { url: string, headers: Record<string, string>, bucket: string }
  t.equal(other.bucket, app.otherBucket)
  t.equal((await fetch(other.url, { method: 'PUT', headers: other.headers, body: 'other' })).status, 200, 'the other allowed bucket')
  t.notOk('url' in (uploads[7] as Json), 'a refused item has no URL')

  const downloads = (await expectOk(t, await app.post('/v1/batch', {
    items: [
      ...files.map(({ key }) => ({ op: 'download', key })),
      { op: 'download', key: files[0]?.key, method: 'HEAD' },
      { op: 'download', key: 'users/alice/batch/other.txt', bucket: app.otherBucket, filename: 'other.txt' }
    ]
  }, alice))).items as Json[]
  t.ok(downloads.every((item) => item.status === 200), 'all signed')
  for (const [index, { body }] of files.entries()) {
    const response = await fetch(downloads[index]?.url as string)
    t.equal(response.status, 200, `item ${index}: GET 200`)
    t.ok(Buffer.from(await response.arrayBuffer()).equals(body), `item ${index}: the same bytes`)
  }
  const head = await fetch(downloads[5]?.url as string, { method: 'HEAD' })
  t.equal(head.status, 200, 'HEAD 200')
  t.equal(head.headers.get('content-length'), String(files[0]?.body.length))
  const attachment = await fetch(downloads[6]?.url as string)
  t.equal(attachment.status, 200)
  t.equal(await attachment.text(), 'other')
  t.match(attachment.headers.get('content-disposition'), /attachment; filename="other.txt"/)
})

t.test('storage not verified safe (raw Ceph honours unsigned x-amz-* headers): upload items get 503 STORAGE_UNSAFE, downloads are signed', async (t) => {
  const app = await buildWithStorage(t, { rawStorage: true, batchPermissions: true, permissions: (check, res) => json(res, 200, { results: (check.body as { checks: unknown[] }).checks.map(() => ({ allowed: true })) }) })
  const items = (await expectOk(t, await app.post('/v1/batch', {
    items: [
      { op: 'upload', key: 'users/alice/u.txt', contentType: 'text/plain', contentLength: 1 },
      { op: 'download', key: 'users/alice/d.txt' }
    ]
  }, bearer(tokenFor('alice'))))).items as Json[]
  t.match(items[0], { status: 503, problem: { code: 'STORAGE_UNSAFE', status: 503, detail: /docs\/storage-safety\.md/ } })
  t.notOk('url' in (items[0] as Json), 'no upload URL')
  t.match(items[1], { status: 200, method: 'GET' }, 'reads are never gated')
  const asked = app.permissions.received.flatMap((call) => (call.body as { checks: Array<{ action: string }> }).checks.map((c) => c.action))
  t.same(asked, ['read'], 'the refused upload is not even asked')
})
