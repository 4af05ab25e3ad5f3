import { createHash } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import t from 'tap'
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  type S3ClientConfig
} from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { startS3Emulator } from '../../dev/s3-emulator.js'
import { canonicalQueryString, parseQuery, uriEncode } from '../../dev/sigv4-verify.js'
import { createPresigner } from '../../src/signing/presigner.js'
import { runStorageSelfTest } from '../../src/storage/self-test.js'

const creds = { accessKeyId: 'dev-key', secretAccessKey: 'dev-secret' }
const region = 'auto'
const bucket = 'media'

const s3 = await startS3Emulator({
  ...creds,
  region,
  buckets: [bucket, 'other'],
  seed: { 'media/public/hello.txt': { body: 'Hello, world!\n', contentType: 'text/plain; charset=utf-8' } }
})
t.teardown(() => s3.close())

function client (overrides: Partial<S3ClientConfig> = {}): S3Client {
  const c = new S3Client({
    region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: creds,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...overrides
  })
  t.teardown(() => c.destroy())
  return c
}
const sdk = client()

/** The S3 error code (and HTTP status) of a failing SDK call. */
async function s3Error (p: Promise<unknown>): Promise<[number | undefined, string]> {
  try {
    await p
  } catch (err) {
    if (err instanceof S3ServiceException) return [err.$metadata.httpStatusCode, err.name]
    throw err
  }
  throw new Error('expected the call to fail')
}

async function fetchXml (url: string, init?: RequestInit): Promise<{ status: number; code: string | undefined; text: string; res: Response }> {
  const res = await fetch(url, init)
  const text = await res.text()
  return { status: res.status, code: /<Code>([^<]*)<\/Code>/.exec(text)?.[1], text, res }
}

t.test('sigv4 building blocks', async (t) => {
  t.equal(uriEncode("a b/c!'()*~._-é"), 'a%20b%2Fc%21%27%28%29%2A~._-%C3%A9')
  t.same(parseQuery('a=1&b&c=%2F+'), [['a', '1'], ['b', ''], ['c', '/+']])
  t.equal(parseQuery('a=%zz'), undefined)
  t.equal(canonicalQueryString([['b', '2'], ['a', 'x y'], ['a', '1'], ['B', '3']]), 'B=3&a=1&a=x%20y&b=2')
})

t.test('SDK: put, get, head, range, delete', async (t) => {
  const key = 'users/alice/notes – ünïcode & spaces.txt'
  const put = await sdk.send(new PutObjectCommand({
    Bucket: bucket, Key: key, Body: 'hello emulator', ContentType: 'text/plain', Metadata: { owner: 'alice' }
  }))
  t.equal(put.ETag, `"${createHash('md5').update('hello emulator').digest('hex')}"`, 'ETag = quoted MD5')

  const got = await sdk.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  t.equal(await got.Body!.transformToString(), 'hello emulator')
  t.equal(got.ContentType, 'text/plain')
  t.equal(got.ContentLength, 14)
  t.equal(got.ETag, put.ETag)
  t.equal(got.AcceptRanges, 'bytes')
  t.same(got.Metadata, { owner: 'alice' })
  t.ok(got.LastModified instanceof Date)

  const head = await sdk.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
  t.equal(head.ContentLength, 14)
  t.equal(head.ETag, put.ETag)

  const cases: Array<[string, number, string, string]> = [
    ['bytes=0-4', 206, 'hello', 'bytes 0-4/14'],
    ['bytes=6-', 206, 'emulator', 'bytes 6-13/14'],
    ['bytes=-8', 206, 'emulator', 'bytes 6-13/14'],
    ['bytes=10-999', 206, 'ator', 'bytes 10-13/14']
  ]
  for (const [range, status, body, contentRange] of cases) {
    const r = await sdk.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }))
    t.same([r.$metadata.httpStatusCode, await r.Body!.transformToString(), r.ContentRange, r.ContentLength],
      [status, body, contentRange, body.length], range)
  }
  t.same(await s3Error(sdk.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=14-' }))), [416, 'InvalidRange'])
  t.same(await s3Error(sdk.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=-0' }))), [416, 'InvalidRange'])
  const ignored = await sdk.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=5-2' }))
  t.equal(ignored.$metadata.httpStatusCode, 200, 'an invalid range is ignored')
  await ignored.Body!.transformToString()

  t.same(await s3Error(sdk.send(new GetObjectCommand({ Bucket: bucket, Key: 'nope' }))), [404, 'NoSuchKey'])
  t.same(await s3Error(sdk.send(new HeadObjectCommand({ Bucket: bucket, Key: 'nope' }))), [404, 'NotFound'])
  t.same(await s3Error(sdk.send(new GetObjectCommand({ Bucket: 'missing', Key: 'x' }))), [404, 'NoSuchBucket'])
  await sdk.send(new HeadBucketCommand({ Bucket: bucket }))

  await sdk.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))
  t.same(await s3Error(sdk.send(new GetObjectCommand({ Bucket: bucket, Key: key }))), [404, 'NoSuchKey'])
  await sdk.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))
  t.pass('deleting a missing key succeeds')
})

t.test('SDK: Content-MD5 and checksums are checked', async (t) => {
  const md5 = (s: string) => createHash('md5').update(s).digest('base64')
  await sdk.send(new PutObjectCommand({ Bucket: bucket, Key: 'md5-ok', Body: 'abc', ContentMD5: md5('abc') }))
  t.same(await s3Error(sdk.send(new PutObjectCommand({ Bucket: bucket, Key: 'md5-bad', Body: 'abc', ContentMD5: md5('abd') }))), [400, 'BadDigest'])
  const sha256 = createHash('sha256').update('abc').digest('base64')
  await sdk.send(new PutObjectCommand({ Bucket: bucket, Key: 'sha-ok', Body: 'abc', ChecksumSHA256: sha256 }))
  t.same(await s3Error(sdk.send(new PutObjectCommand({ Bucket: bucket, Key: 'sha-bad', Body: 'abd', ChecksumSHA256: sha256 }))), [400, 'BadDigest'])
})

t.test('SDK: default checksum settings (aws-chunked bodies with trailers) still store the right bytes', async (t) => {
  const defaults = client({ requestChecksumCalculation: 'WHEN_SUPPORTED', responseChecksumValidation: 'WHEN_SUPPORTED' })
  const { Readable } = await import('node:stream')
  await defaults.send(new PutObjectCommand({
    Bucket: bucket, Key: 'streamed', Body: Readable.from([Buffer.from('part one, '), Buffer.from('part two')]), ContentLength: 18
  }))
  const got = await sdk.send(new GetObjectCommand({ Bucket: bucket, Key: 'streamed' }))
  t.equal(await got.Body!.transformToString(), 'part one, part two')
  t.equal(got.ContentEncoding, undefined, 'aws-chunked is not stored as the content encoding')
})

t.test('SDK: multipart upload', async (t) => {
  const key = 'big/video.bin'
  const MiB = 1024 * 1024
  const parts = [Buffer.alloc(5 * MiB, 1), Buffer.alloc(5 * MiB, 2), Buffer.from('tail')]
  const { UploadId } = await sdk.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: 'video/mp4' }))
  t.ok(UploadId)
  const etags: string[] = []
  for (const [i, body] of parts.entries()) {
    const r = await sdk.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: body }))
    t.equal(r.ETag, `"${createHash('md5').update(body).digest('hex')}"`)
    etags.push(r.ETag!)
  }
  const listed = await sdk.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId }))
  t.same(listed.Parts?.map((p) => [p.PartNumber, p.ETag, p.Size]), parts.map((b, i) => [i + 1, etags[i], b.length]))

  const complete = (partList: Array<{ PartNumber: number; ETag: string }>) =>
    sdk.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: partList } }))
  const all = etags.map((ETag, i) => ({ PartNumber: i + 1, ETag }))
  t.same(await s3Error(complete([all[1]!, all[0]!])), [400, 'InvalidPartOrder'])
  t.same(await s3Error(complete([{ ...all[0]!, ETag: '"0000"' }])), [400, 'InvalidPart'])
  t.same(await s3Error(complete([all[2]!, { PartNumber: 4, ETag: etags[0]! }])), [400, 'InvalidPart'])
  // R2's part rules: all parts but the last of one size, the last no bigger.
  const bigger = await sdk.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 7, Body: Buffer.alloc(6 * MiB) }))
  const tail = await sdk.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 8, Body: 'tail' }))
  const p7 = { PartNumber: 7, ETag: bigger.ETag! }
  t.same(await s3Error(complete([all[0]!, p7])), [400, 'InvalidPart'], 'last part bigger than the others')
  t.same(await s3Error(complete([all[0]!, p7, { PartNumber: 8, ETag: tail.ETag! }])), [400, 'InvalidPart'], 'unequal parts')

  const done = await complete(all)
  const md5s = Buffer.concat(parts.map((b) => createHash('md5').update(b).digest()))
  t.equal(done.ETag, `"${createHash('md5').update(md5s).digest('hex')}-3"`, 'multipart ETag')
  const got = await sdk.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=10485758-' }))
  t.same(Buffer.from(await got.Body!.transformToByteArray()), Buffer.from([2, 2, ...Buffer.from('tail')]))
  t.equal(got.ContentType, 'video/mp4')
  t.same(await s3Error(sdk.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId }))), [404, 'NoSuchUpload'])

  // All parts but the last must be ≥ 5 MiB.
  const small = await sdk.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'small' }))
  const s1 = await sdk.send(new UploadPartCommand({ Bucket: bucket, Key: 'small', UploadId: small.UploadId, PartNumber: 1, Body: 'a' }))
  const s2 = await sdk.send(new UploadPartCommand({ Bucket: bucket, Key: 'small', UploadId: small.UploadId, PartNumber: 2, Body: 'b' }))
  t.same(await s3Error(sdk.send(new CompleteMultipartUploadCommand({
    Bucket: bucket,
    Key: 'small',
    UploadId: small.UploadId,
    MultipartUpload: { Parts: [{ PartNumber: 1, ETag: s1.ETag! }, { PartNumber: 2, ETag: s2.ETag! }] }
  }))), [400, 'EntityTooSmall'])
  await sdk.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'small', UploadId: small.UploadId }))
  t.same(await s3Error(sdk.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'small', UploadId: small.UploadId }))), [404, 'NoSuchUpload'])
  t.same(await s3Error(sdk.send(new UploadPartCommand({ Bucket: bucket, Key: 'small', UploadId: 'nope', PartNumber: 1, Body: 'x' }))), [404, 'NoSuchUpload'])
})

t.test('SDK: ListObjectsV2', async (t) => {
  for (const k of ['list/a/1', 'list/a/2', 'list/b', 'list/c/x/y', 'list/d']) {
    await sdk.send(new PutObjectCommand({ Bucket: 'other', Key: k, Body: k }))
  }
  const flat = await sdk.send(new ListObjectsV2Command({ Bucket: 'other', Prefix: 'list/' }))
  t.same(flat.Contents?.map((o) => o.Key), ['list/a/1', 'list/a/2', 'list/b', 'list/c/x/y', 'list/d'])
  t.equal(flat.Contents?.[0]?.Size, 8)

  const seen: string[] = []
  let token: string | undefined
  do {
    const page = await sdk.send(new ListObjectsV2Command({ Bucket: 'other', Prefix: 'list/', Delimiter: '/', MaxKeys: 2, ContinuationToken: token }))
    seen.push(...(page.CommonPrefixes ?? []).map((p) => p.Prefix!), ...(page.Contents ?? []).map((o) => o.Key!))
    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token)
  t.same(seen.sort(), ['list/a/', 'list/b', 'list/c/', 'list/d'], 'paged with delimiter')
})

t.test('presigned URLs via fetch', async (t) => {
  const ttl = { expiresIn: 60 }
  /** A presigned GET of the seeded object, signed by client `c`. */
  const helloUrl = (c = sdk, opts: Parameters<typeof getSignedUrl>[2] = {}) =>
    getSignedUrl(c, new GetObjectCommand({ Bucket: bucket, Key: 'public/hello.txt' }), { ...ttl, ...opts })

  // GET with response overrides
  const getUrl = await getSignedUrl(sdk, new GetObjectCommand({
    Bucket: bucket, Key: 'public/hello.txt', ResponseContentType: 'text/x-greeting', ResponseContentDisposition: 'attachment; filename="hi.txt"'
  }), ttl)
  let res = await fetch(getUrl)
  t.equal(res.status, 200)
  t.equal(await res.text(), 'Hello, world!\n')
  t.equal(res.headers.get('content-type'), 'text/x-greeting')
  t.equal(res.headers.get('content-disposition'), 'attachment; filename="hi.txt"')
  t.equal(res.headers.get('access-control-allow-origin'), '*')
  t.match(res.headers.get('access-control-expose-headers'), /ETag.*Content-Range/)

  res = await fetch(getUrl, { headers: { range: 'bytes=0-4' } })
  t.same([res.status, await res.text(), res.headers.get('content-range')], [206, 'Hello', 'bytes 0-4/14'], 'unsigned Range header is fine')
  const etag = res.headers.get('etag')!
  res = await fetch(getUrl, { headers: { 'if-none-match': etag } })
  t.equal(res.status, 304, 'If-None-Match')

  // HEAD
  const headUrl = await getSignedUrl(sdk, new HeadObjectCommand({ Bucket: bucket, Key: 'public/hello.txt' }), ttl)
  res = await fetch(headUrl, { method: 'HEAD' })
  t.same([res.status, res.headers.get('content-length'), res.headers.get('etag')], [200, '14', etag])
  t.equal((await fetch(headUrl)).status, 403, 'a HEAD URL cannot be used for GET')

  // PUT with a signed content-type
  const putUrl = await getSignedUrl(sdk, new PutObjectCommand({ Bucket: bucket, Key: 'users/alice/up.json', ContentType: 'application/json' }),
    { ...ttl, signableHeaders: new Set(['content-type']) })
  res = await fetch(putUrl, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"ok":true}' })
  t.equal(res.status, 200)
  t.equal(res.headers.get('etag'), `"${createHash('md5').update('{"ok":true}').digest('hex')}"`)
  const back = await fetch(await getSignedUrl(sdk, new GetObjectCommand({ Bucket: bucket, Key: 'users/alice/up.json' }), ttl))
  t.same([await back.text(), back.headers.get('content-type')], ['{"ok":true}', 'application/json'])

  let r = await fetchXml(putUrl, { method: 'PUT', headers: { 'content-type': 'text/html' }, body: '<script>' })
  t.same([r.status, r.code], [403, 'SignatureDoesNotMatch'], 'PUT with another content-type than signed')
  t.match(r.text, /<CanonicalRequest>PUT\n\/media\/users\/alice\/up.json\n/, 'the error shows the canonical request')

  // CORS preflight
  res = await fetch(putUrl, {
    method: 'OPTIONS',
    headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' }
  })
  t.same([res.status, res.headers.get('access-control-allow-origin'), res.headers.get('access-control-allow-headers')], [200, '*', 'content-type'])
  t.match(res.headers.get('access-control-allow-methods'), /PUT/)

  // Rejections
  const wrongSecret = client({ credentials: { ...creds, secretAccessKey: 'not-the-secret' } })
  r = await fetchXml(await helloUrl(wrongSecret))
  t.same([r.status, r.code], [403, 'SignatureDoesNotMatch'], 'wrong secret')

  const unknownKey = client({ credentials: { ...creds, accessKeyId: 'someone-else' } })
  r = await fetchXml(await helloUrl(unknownKey))
  t.same([r.status, r.code], [403, 'InvalidAccessKeyId'], 'unknown access key')

  r = await fetchXml(await helloUrl(sdk, { signingDate: new Date(Date.now() - 3600_000), expiresIn: 60 }))
  t.same([r.status, r.code], [403, 'AccessDenied'], 'expired URL')
  t.match(r.text, /Request has expired/)

  r = await fetchXml(getUrl.replace('/public/hello.txt', '/public/other.txt'))
  t.same([r.status, r.code], [403, 'SignatureDoesNotMatch'], 'altered key')
  r = await fetchXml(getUrl.replace('attachment', 'inline'))
  t.same([r.status, r.code], [403, 'SignatureDoesNotMatch'], 'altered response override')
  r = await fetchXml(getUrl.replace(/X-Amz-Signature=[0-9a-f]+/, 'X-Amz-Signature=' + '0'.repeat(64)))
  t.same([r.status, r.code], [403, 'SignatureDoesNotMatch'], 'altered signature')
  r = await fetchXml(getUrl, { headers: { 'x-amz-meta-sneaky': '1' } })
  t.same([r.status, r.code], [403, 'AccessDenied'], 'unsigned x-amz-* header')

  r = await fetchXml(`${s3.endpoint}/${bucket}/public/hello.txt`)
  t.same([r.status, r.code], [403, 'AccessDenied'], 'unsigned request')
  r = await fetchXml(`${s3.endpoint}/${bucket}/public/hello.txt`, { method: 'PUT', body: 'x' })
  t.same([r.status, r.code], [403, 'AccessDenied'], 'unsigned PUT')

  const otherRegion = client({ region: 'eu-west-1' })
  r = await fetchXml(await helloUrl(otherRegion))
  t.same([r.status, r.code], [400, 'AuthorizationQueryParametersError'], 'wrong region')
  const usEast = client({ region: 'us-east-1' })
  res = await fetch(await helloUrl(usEast))
  t.equal(res.status, 200, 'us-east-1 is an alias of auto, as on R2')

  // The SDK's default (WHEN_SUPPORTED) bakes the CRC32 of an empty body into presigned PUT URLs.
  const defaults = client({ requestChecksumCalculation: 'WHEN_SUPPORTED' })
  const crcUrl = await getSignedUrl(defaults, new PutObjectCommand({ Bucket: bucket, Key: 'crc' }), ttl)
  t.match(crcUrl, /x-amz-checksum-crc32=AAAAAA%3D%3D/)
  r = await fetchXml(crcUrl, { method: 'PUT', body: 'not empty' })
  t.same([r.status, r.code], [400, 'BadDigest'], 'checksum in a presigned URL is checked against the body')
})

t.test('the path is verified as sent (no normalisation)', async (t) => {
  // Signed for /media/public/hello.txt, sent as /media/public/./hello.txt: not the same request.
  const url = await getSignedUrl(sdk, new GetObjectCommand({ Bucket: bucket, Key: 'public/hello.txt' }), { expiresIn: 60 })
  const { pathname, search } = new URL(url)
  const [status, body] = await new Promise<[number, string]>((resolve, reject) => {
    const { hostname, port } = new URL(s3.endpoint)
    const path = `${pathname.replace('/public/', '/public/./')}${search}` // options.path is sent verbatim
    const req = httpRequest({ hostname, port, path }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve([res.statusCode!, text]))
    })
    req.on('error', reject).end()
  })
  t.equal(status, 403)
  t.match(body, /<Code>SignatureDoesNotMatch<\/Code>/)
})

t.test('presigned requests with x-amz-* headers they did not sign are refused, as AWS does (Ceph RGW 16 applies them)', async (t) => {
  const presigner = createPresigner({ endpoint: s3.endpoint, region, ...creds, forcePathStyle: true })
  await sdk.send(new PutObjectCommand({ Bucket: 'other', Key: 'secret.txt', Body: 'the secret' }))
  const sign = (key: string) => presigner.presign({ operation: 'PutObject', bucket, key, expiresIn: 60, headers: { 'content-type': 'text/plain' } })
  const cases: Array<[string, Record<string, string>]> = [
    ['x-amz-copy-source', { 'x-amz-copy-source': '/other/secret.txt' }],
    ['x-amz-acl', { 'x-amz-acl': 'public-read' }],
    ['x-amz-meta-owner', { 'x-amz-meta-owner': 'mallory' }],
    ['x-amz-tagging', { 'x-amz-tagging': 'a=b' }],
    ['x-amz-website-redirect-location', { 'x-amz-website-redirect-location': 'https://example.com/' }]
  ]
  for (const [name, extra] of cases) {
    const key = `unsigned/${name}.txt`
    const r = await fetchXml(sign(key).url, { method: 'PUT', headers: { 'content-type': 'text/plain', ...extra }, body: 'x' })
    t.same([r.status, r.code], [403, 'AccessDenied'], `unsigned ${name} refused`)
    t.match(r.text, new RegExp(`<HeadersNotSigned>${name}</HeadersNotSigned>`), 'naming the header')
    t.same(await s3Error(sdk.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))), [404, 'NotFound'], 'nothing stored')
  }
  const part = presigner.presign({ operation: 'UploadPart', bucket, key: 'unsigned/part.bin', expiresIn: 60, partNumber: 1, uploadId: 'any' })
  const r = await fetchXml(part.url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'x-amz-copy-source': '/other/secret.txt' }, body: 'x' })
  t.same([r.status, r.code], [403, 'AccessDenied'], 'an UploadPart URL with an unsigned x-amz-copy-source too')
  const ok = await fetch(sign('unsigned/plain.txt').url, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'plain' })
  t.equal(ok.status, 200, 'the same URL without extra headers works')
})

t.test('the storage self-test finds the emulator safe (every check ok, canaries deleted)', async (t) => {
  const connection = { endpoint: s3.endpoint, region, ...creds, forcePathStyle: true }
  const report = await runStorageSelfTest({ presigner: createPresigner(connection), storage: connection, bucket, prefix: '.r2-signer-check/', timeoutMs: 5000 })
  t.equal(report.verdict, 'safe')
  t.same(report.checks.filter((check) => check.outcome !== 'ok'), [], 'every check ok, if-none-match included')
  const listed = await sdk.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: '.r2-signer-check/' }))
  t.equal(listed.KeyCount, 0, 'no canary left')
})
