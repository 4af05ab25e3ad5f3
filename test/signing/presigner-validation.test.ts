/**
 * Inputs the presigner refuses (rather than producing a URL that differs from the SDK's or
 * cannot work), and config handling.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { createPresigner } from '../../src/signing/presigner.js'
import type { PresignInput, PresignerConfig } from '../../src/signing/presigner.js'

const config: PresignerConfig = {
  endpoint: 'https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com',
  region: 'auto',
  accessKeyId: 'AK',
  secretAccessKey: 'SK',
  forcePathStyle: false
}
const p = createPresigner(config)
const signingDate = new Date('2024-01-02T03:04:05Z')
const get: PresignInput = { operation: 'GetObject', bucket: 'my-bucket', key: 'k', expiresIn: 60, signingDate }

t.test('accepts the basics and is synchronous (no I/O possible)', async (t) => {
  const r = p.presign(get)
  t.type(r.url, 'string')
  t.notOk(r instanceof Promise)
  t.equal(r.method, 'GET')
  t.same(r.signedHeaders, { host: 'my-bucket.0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com' })
  t.equal(r.expiresAt.toISOString(), '2024-01-02T03:05:05.000Z')
})

t.test('the signer module depends on node:crypto only', async (t) => {
  for (const file of ['presigner.ts', 'sigv4.ts']) {
    const src = readFileSync(new URL(`../../src/signing/${file}`, import.meta.url), 'utf8')
    const imports = [...src.matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1])
    t.ok(imports.every((i) => i === 'node:crypto' || i === './sigv4.js'), `${file} imports ${imports.join(', ')}`)
  }
})

t.test('bucket names', async (t) => {
  for (const bucket of ['bucket--x-s3', 'bucket--usw2-az1--x-s3', 'bucket--xa-s3', 'b--op-s3', 'xn--abc', '.', '..', '', 'a/b', 'a b', 'arn:aws:s3:::b', 'ü', 'a'.repeat(256)]) {
    t.throws(() => p.presign({ ...get, bucket }), TypeError, JSON.stringify(bucket))
  }
  for (const bucket of ['a', 'ab', 'My_Bucket', 'my.bucket', '192.168.1.1', 'a'.repeat(255), 'bucket--ol-s3', 'x-s3']) {
    t.doesNotThrow(() => p.presign({ ...get, bucket }), JSON.stringify(bucket))
  }
})

t.test('keys', async (t) => {
  t.throws(() => p.presign({ ...get, key: '' }), TypeError, 'empty')
  t.throws(() => p.presign({ ...get, key: 'a\ud800b' }), TypeError, 'lone surrogate')
  t.throws(() => p.presign({ ...get, key: 'a\udc00' }), TypeError, 'lone low surrogate')
  t.doesNotThrow(() => p.presign({ ...get, key: '😀/\u0000/\n' }))
})

t.test('expiresIn and signingDate', async (t) => {
  for (const expiresIn of [0, -1, 604_801, 1.5, Number.NaN, Infinity]) {
    t.throws(() => p.presign({ ...get, expiresIn }), RangeError, String(expiresIn))
  }
  t.doesNotThrow(() => p.presign({ ...get, expiresIn: 604_800 }))
  t.throws(() => p.presign({ ...get, signingDate: new Date(Number.NaN) }), RangeError, 'invalid date')
  t.throws(() => p.presign({ ...get, signingDate: new Date('+010000-01-01T00:00:00Z') }), RangeError, 'year 10000')
})

t.test('operation-specific options', async (t) => {
  t.throws(() => p.presign({ ...get, operation: 'DeleteObject' as never }), TypeError)
  t.throws(() => p.presign({ ...get, operation: 'toString' as never }), TypeError)
  t.throws(() => p.presign({ ...get, headers: { 'content-type': 'x/y' } }), TypeError, 'headers on GET')
  t.doesNotThrow(() => p.presign({ ...get, headers: {} }), 'empty headers on GET')
  t.throws(() => p.presign({ ...get, partNumber: 1, uploadId: 'u' }), TypeError, 'part on GET')
  const put: PresignInput = { ...get, operation: 'PutObject' }
  t.throws(() => p.presign({ ...put, responseContentType: 'x' }), TypeError, 'response override on PUT')
  t.throws(() => p.presign({ ...put, headers: { 'x-amz-meta-a': 'b' } }), TypeError, 'unsupported header')
  t.throws(() => p.presign({ ...put, headers: { 'Content-Type': 'x/y' } }), TypeError, 'names are lower-case')
  t.throws(() => p.presign({ ...put, headers: { 'content-type': '' } }), TypeError, 'empty value')
  t.throws(() => p.presign({ ...put, headers: { 'content-type': 'a\r\nx-evil: 1' } }), TypeError, 'CRLF')
  t.throws(() => p.presign({ ...put, headers: { 'content-type': 'tëxt/plain' } }), TypeError, 'non-ASCII')
  for (const cl of ['-1', '1.0', '01', ' 1', '1e3', '99999999999999999']) {
    t.throws(() => p.presign({ ...put, headers: { 'content-length': cl } }), TypeError, `content-length ${cl}`)
  }
  t.same(p.presign({ ...put }).signedHeaders['content-type'], 'application/octet-stream', 'default content type')
  const part: PresignInput = { ...get, operation: 'UploadPart', partNumber: 1, uploadId: 'u' }
  t.doesNotThrow(() => p.presign(part))
  t.throws(() => p.presign({ ...part, headers: { 'content-type': 'x/y' } }), TypeError, 'UploadPart has no content-type')
  t.same(Object.keys(p.presign({ ...part, headers: { 'content-length': '5' } }).signedHeaders).sort(), ['content-length', 'host'], 'a part URL signs its length and host only')
  t.same(Object.keys(p.presign({ ...put, headers: { 'if-none-match': '*' } }).signedHeaders).sort(), ['content-type', 'host', 'if-none-match'], 'PutObject signs if-none-match')
  t.throws(() => p.presign({ ...put, headers: { 'if-none-match': '"etag"' } }), TypeError, 'if-none-match is "*" only')
  t.throws(() => p.presign({ ...part, headers: { 'if-none-match': '*' } }), TypeError, 'UploadPart has no if-none-match')
  for (const partNumber of [0, 10_001, 1.5, undefined]) {
    t.throws(() => p.presign({ ...part, partNumber }), RangeError, `partNumber ${partNumber}`)
  }
  t.throws(() => p.presign({ ...part, uploadId: '' }), TypeError, 'empty uploadId')
  t.throws(() => p.presign({ ...part, uploadId: undefined }), TypeError, 'missing uploadId')
  t.throws(() => p.presign({ ...put, partNumber: 1 }), TypeError, 'partNumber on PutObject')
})

t.test('config', async (t) => {
  for (const endpoint of ['r2.example.com', 'ftp://h', 'https://h/path', 'https://h//', 'https://h?x=1', 'https://h?', 'https://u:p@h', 'https://h#f']) {
    t.throws(() => createPresigner({ ...config, endpoint }), TypeError, endpoint)
  }
  for (const region of ['', '-a', 'a-', 'us east', 'a.b']) {
    t.throws(() => createPresigner({ ...config, region }), TypeError, `region ${JSON.stringify(region)}`)
  }
  t.throws(() => createPresigner({ ...config, accessKeyId: '' }), TypeError)
  t.throws(() => createPresigner({ ...config, secretAccessKey: '' }), TypeError)
  t.throws(() => createPresigner({ ...config, forcePathStyle: 'false' as never }), TypeError)
  // Default ports are dropped and hosts lower-cased, like the SDK (WHATWG URL).
  const q = createPresigner({ ...config, endpoint: 'HTTPS://S3.Example.COM:443/' })
  t.match(q.presign(get).url, /^https:\/\/my-bucket\.s3\.example\.com\/k\?/)
  // Never virtual-host on an IP endpoint.
  const ip = createPresigner({ ...config, endpoint: 'http://127.0.0.1:17480' })
  t.match(ip.presign(get).url, /^http:\/\/127\.0\.0\.1:17480\/my-bucket\/k\?/)
})
