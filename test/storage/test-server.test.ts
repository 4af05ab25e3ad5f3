// The test S3 server is real: it stores objects and actually verifies SigV4 signatures.
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import t from 'tap'
import { createTestBucket, s3Client, testStorage } from '../helpers/storage.js'

const s3 = s3Client()
t.teardown(() => s3.destroy())
const bucket = await createTestBucket('storage')
const key = 'dir/hello world ü.txt'

t.test('bucket name is unique and DNS-safe', async t => {
  t.match(bucket, /^storage-[0-9a-f]{12}$/)
  t.not(await createTestBucket('storage'), bucket)
})

t.test('put and get an object', async t => {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'hello', ContentType: 'text/plain' }))
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  t.equal(res.ContentType, 'text/plain')
  t.equal(await res.Body?.transformToString(), 'hello')
})

t.test('a wrong secret key is rejected', async t => {
  const { accessKeyId } = testStorage()
  const bad = s3Client({ accessKeyId, secretAccessKey: 'not-the-secret' })
  t.teardown(() => bad.destroy())
  const err = await bad.send(new GetObjectCommand({ Bucket: bucket, Key: key })).then(
    () => undefined,
    (err: unknown) => err as { name: string; $metadata?: { httpStatusCode?: number } }
  )
  t.ok(err, 'request with a wrong secret is rejected')
  t.equal(err?.$metadata?.httpStatusCode, 403)
  t.match(err?.name, /^(SignatureDoesNotMatch|InvalidAccessKeyId)$/)
})

t.test('an unsigned GET of a private object is rejected', async t => {
  const { endpoint } = testStorage()
  const res = await fetch(`${endpoint}/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`)
  t.equal(res.status, 403)
  t.match(await res.text(), /AccessDenied/)
})
