/**
 * AWS's published query-auth example ("Authenticating Requests: Using Query Parameters (AWS
 * Signature Version 4)", https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html),
 * reproduced with the same SigV4 primitives the presigner's hot path uses.
 */
import { createHash } from 'node:crypto'
import t from 'tap'
import { createPresigner } from '../../src/signing/presigner.js'
import {
  buildCanonicalRequest,
  buildStringToSign,
  deriveSigningKey,
  keyedHmacSha256Hex,
  formatAmzDate,
  signCanonicalRequest,
  sha256Hex,
  SigningKeyCache,
  uriEscape,
  uriEscapePath
} from '../../src/signing/sigv4.js'
import { signQuery } from './sign-query.js'
import { createOracle } from './oracle.js'

const EXAMPLE = {
  method: 'GET',
  host: 'examplebucket.s3.amazonaws.com',
  path: '/test.txt',
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  region: 'us-east-1',
  service: 's3',
  date: new Date('2013-05-24T00:00:00Z'),
  expiresIn: 86400
}

const CANONICAL_QUERY =
  'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request' +
  '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host'
const CANONICAL_REQUEST = ['GET', '/test.txt', CANONICAL_QUERY, 'host:examplebucket.s3.amazonaws.com', '', 'host', 'UNSIGNED-PAYLOAD'].join('\n')
const STRING_TO_SIGN = [
  'AWS4-HMAC-SHA256',
  '20130524T000000Z',
  '20130524/us-east-1/s3/aws4_request',
  '3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04'
].join('\n')
const SIGNATURE = 'aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404'

t.test('signQuery reproduces the published example', async (t) => {
  const r = signQuery(EXAMPLE)
  t.equal(r.canonicalRequest, CANONICAL_REQUEST, 'canonical request')
  t.equal(r.stringToSign, STRING_TO_SIGN, 'string to sign')
  t.equal(r.signature, SIGNATURE, 'signature')
  t.equal(r.signedHeaders, 'host')
  // The docs append X-Amz-Signature last; we (like the SDK) keep params sorted. S3 doesn't care.
  t.equal(
    r.queryString,
    CANONICAL_QUERY.replace('&X-Amz-SignedHeaders=', `&X-Amz-Signature=${SIGNATURE}&X-Amz-SignedHeaders=`),
    'query string'
  )
})

t.test('the presigner hot-path primitives reproduce it step by step', async (t) => {
  const amzDate = formatAmzDate(EXAMPLE.date)
  t.equal(amzDate, '20130524T000000Z')
  const canonicalRequest = buildCanonicalRequest(
    'GET',
    uriEscapePath('test.txt').replace(/^/, '/'),
    CANONICAL_QUERY,
    'host:examplebucket.s3.amazonaws.com\n',
    'host',
    'UNSIGNED-PAYLOAD'
  )
  t.equal(canonicalRequest, CANONICAL_REQUEST)
  t.equal(buildStringToSign(amzDate, '20130524/us-east-1/s3/aws4_request', canonicalRequest), STRING_TO_SIGN)
  const key = deriveSigningKey(EXAMPLE.secretAccessKey, '20130524', 'us-east-1', 's3')
  t.equal(signCanonicalRequest(keyedHmacSha256Hex(key), amzDate, '20130524/us-east-1/s3/aws4_request', canonicalRequest), SIGNATURE)

  const cache = new SigningKeyCache(EXAMPLE.secretAccessKey, 'us-east-1', 's3', 2)
  t.equal(signCanonicalRequest(cache.get('20130524'), amzDate, '20130524/us-east-1/s3/aws4_request', canonicalRequest), SIGNATURE, 'cached keyed HMAC = HMAC with the derived key')
  t.equal(cache.get('20130524'), cache.get('20130524'), 'same keyed HMAC on the fast path')
  cache.get('20130525')
  const evicted = cache.get('20130524')
  cache.get('20130526') // 26 and 27 evict 24 and 25 (2 slots)
  cache.get('20130527')
  t.not(cache.get('20130524'), evicted, 're-derived after eviction')
  t.equal(cache.get('20130524')(STRING_TO_SIGN), SIGNATURE, 'and still signs the same')
})

t.test('the presigner = signQuery + the SDK S3 presigner extras (X-Amz-Content-Sha256, x-id)', async (t) => {
  const config = {
    endpoint: 'https://s3.amazonaws.com',
    region: 'us-east-1',
    accessKeyId: EXAMPLE.accessKeyId,
    secretAccessKey: EXAMPLE.secretAccessKey,
    forcePathStyle: false
  }
  const presigner = createPresigner(config)
  const oracle = createOracle(config)

  const get = { operation: 'GetObject', bucket: 'examplebucket', key: 'test.txt', expiresIn: 86400, signingDate: EXAMPLE.date } as const
  const generic = signQuery({ ...EXAMPLE, query: { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD', 'x-id': 'GetObject' } })
  const ours = presigner.presign(get)
  t.equal(ours.url, `https://examplebucket.s3.amazonaws.com/test.txt?${generic.queryString}`)
  t.equal(ours.url, await oracle.presign(get), 'and the SDK agrees')

  const put = {
    operation: 'PutObject',
    bucket: 'examplebucket',
    key: 'dir/a b+c.txt',
    expiresIn: 600,
    signingDate: EXAMPLE.date,
    headers: { 'content-type': 'text/plain;  charset=utf-8', 'content-length': '42', 'content-md5': 'XrY7u+Ae7tCTyyK7j1rNww==' }
  } as const
  const genericPut = signQuery({
    ...EXAMPLE,
    method: 'PUT',
    path: '/dir/a%20b%2Bc.txt',
    expiresIn: 600,
    headers: put.headers,
    query: { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD', 'x-id': 'PutObject' }
  })
  const oursPut = presigner.presign(put)
  t.equal(oursPut.url, `https://examplebucket.s3.amazonaws.com/dir/a%20b%2Bc.txt?${genericPut.queryString}`)
  t.equal(oursPut.url, await oracle.presign(put), 'and the SDK agrees')
  t.same(oursPut.signedHeaders, { ...put.headers, host: 'examplebucket.s3.amazonaws.com' })
})

t.test('URI escaping', async (t) => {
  t.equal(uriEscape('AZaz09-_.~'), 'AZaz09-_.~', 'unreserved untouched')
  t.equal(uriEscape("!'()*"), '%21%27%28%29%2A', "!'()* escaped (encodeURIComponent leaves them)")
  t.equal(uriEscape(' +/=&?#%'), '%20%2B%2F%3D%26%3F%23%25')
  t.equal(uriEscape('é😀'), '%C3%A9%F0%9F%98%80', 'UTF-8')
  t.equal(uriEscapePath('a/b c//d*/'), 'a/b%20c//d%2A/', 'slashes kept in paths')
  t.equal(uriEscapePath('literal%2F/x'), 'literal%252F/x', 'a literal "%2F" is not a slash')
  t.throws(() => uriEscape('\ud800'), URIError, 'lone surrogate')
})

t.test('sha256Hex (one-shot crypto.hash when available) hashes UTF-8 like createHash', async (t) => {
  t.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  const s = 'GET\n/é/😀\n\u0000'
  t.equal(sha256Hex(s), createHash('sha256').update(Buffer.from(s, 'utf8')).digest('hex'))
})
