/**
 * The SDK-free S3 calls (src/storage/s3-requests.ts) on real Ceph RGW, which verifies their SigV4
 * Authorization header: HeadBucket, ListObjectsV2 with keys that need XML escaping, DeleteObject;
 * and a wrong secret is refused (403), so the signature is really checked.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3'
import t from 'tap'
import { createS3Requests, listedObjects } from '../../src/storage/s3-requests.js'
import { createTestBucket, s3Client, testStorage } from '../helpers/storage.js'

const s3 = s3Client()
t.teardown(() => s3.destroy())

t.test('HeadBucket, ListObjectsV2 and DeleteObject, signed with the project signer, on Ceph', async (t) => {
  const storage = { ...testStorage(), forcePathStyle: true }
  const bucket = await createTestBucket('s3-requests')
  const keys = ['list/a&b<c>"d\'.txt', 'list/é ü/plain.txt', 'list/x+y=z?.txt']
  for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }))
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'other/kept.txt', Body: 'kept' }))

  const requests = createS3Requests(storage, { timeoutMs: 5000 })
  t.teardown(() => requests.close())

  const head = await requests.send({ method: 'HEAD', bucket })
  t.equal(head.status, 200, 'HeadBucket: 200')
  t.type(head.headers.date, 'string', 'with a Date header')
  t.equal((await requests.send({ method: 'HEAD', bucket: `${bucket}-missing` })).status, 404, 'HeadBucket of a missing bucket: 404')

  const listed = await requests.send({ method: 'GET', bucket, query: { 'list-type': '2', prefix: 'list/', 'max-keys': '1000' } })
  t.equal(listed.status, 200)
  const objects = listedObjects(listed.body)
  t.same(objects.map((object) => object.key).sort(), [...keys].sort(), 'only the prefix, keys decoded from XML')
  t.ok(objects.every((object) => object.lastModified instanceof Date && Math.abs(object.lastModified.getTime() - Date.now()) < 600_000), 'LastModified parsed')

  for (const key of keys) t.equal((await requests.send({ method: 'DELETE', bucket, key })).status, 204, `DeleteObject ${key}`)
  const after = await requests.send({ method: 'GET', bucket, query: { 'list-type': '2', 'max-keys': '1000' } })
  t.same(listedObjects(after.body).map((object) => object.key), ['other/kept.txt'], 'deleted exactly those keys')
})

t.test('a wrong secret is refused by Ceph (403)', async (t) => {
  const storage = { ...testStorage(), forcePathStyle: true }
  const bucket = await createTestBucket('s3-requests-auth')
  const requests = createS3Requests({ ...storage, secretAccessKey: `${storage.secretAccessKey}x` }, { timeoutMs: 5000 })
  t.teardown(() => requests.close())
  t.equal((await requests.send({ method: 'HEAD', bucket })).status, 403)
  const listed = await requests.send({ method: 'GET', bucket, query: { 'list-type': '2' } })
  t.equal(listed.status, 403)
  t.match(listed.body, /SignatureDoesNotMatch/)
})

t.test('listedObjects decodes XML character references and skips entries without a key', async (t) => {
  const xml = '<ListBucketResult><Contents><Key>a&amp;b&#38;c&#x3C;d</Key><LastModified>2026-11-30T07:00:00.000Z</LastModified></Contents>' +
    '<Contents><Size>1</Size></Contents><Contents><Key>e</Key><LastModified>not a date</LastModified></Contents></ListBucketResult>'
  t.same(listedObjects(xml), [{ key: 'a&b&c<d', lastModified: new Date('2026-11-30T07:00:00.000Z') }, { key: 'e' }])
})
