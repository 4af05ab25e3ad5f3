/**
 * SigV4 query presigner for S3-compatible stores (Cloudflare R2, Ceph RGW, AWS S3).
 *
 * Output is byte-identical to `getSignedUrl` from @aws-sdk/s3-request-presigner for the same
 * inputs (see test/signing/oracle.ts for the exact SDK configuration it is held to), at a small
 * fraction of the cost: no middleware stack, no endpoint-rules engine, no promises, the day's
 * signing key cached, and everything that depends only on the config precomputed.
 * Signing is pure computation: it never touches the network.
 */
import {
  ALGORITHM,
  MAX_EXPIRES_SECONDS,
  SigningKeyCache,
  UNSIGNED_PAYLOAD,
  buildCanonicalRequest,
  canonicalHeaderValue,
  formatAmzDate,
  signCanonicalRequest,
  uriEscape,
  uriEscapePath
} from './sigv4.js'

export type PresignOperation = 'GetObject' | 'HeadObject' | 'PutObject' | 'UploadPart'

export interface PresignerConfig {
  /** e.g. 'http://127.0.0.1:17480' or 'https://ACCOUNT.r2.cloudflarestorage.com' (no path). */
  endpoint: string;
  /** 'auto' for R2. */
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /**
   * true: scheme://endpoint/bucket/key. false: scheme://bucket.endpoint/key when the SDK would
   * do that (DNS-compatible bucket and the endpoint host is not an IP), path style otherwise.
   */
  forcePathStyle: boolean;
}

export interface PresignInput {
  operation: PresignOperation;
  bucket: string;
  /** Any well-formed UTF-16 string S3 allows; validated upstream. */
  key: string;
  /** Seconds, integer 1..604800. */
  expiresIn: number;
  /** Defaults to now. Milliseconds are dropped (X-Amz-Date has second precision). */
  signingDate?: Date;
  /**
   * Lower-case names of headers that get SIGNED, so the client must send them verbatim.
   * PutObject: content-type (always signed: application/octet-stream when absent), content-length,
   * content-md5, if-none-match (`*` only: storage refuses to overwrite an existing key, 412).
   * UploadPart: content-length, content-md5; never content-type, so a part's bytes can be sent as
   * they are (a Blob slice, `curl -T`) without a Content-Type header.
   */
  headers?: Record<string, string>;
  /** GetObject/HeadObject: -> response-content-type. */
  responseContentType?: string;
  /** GetObject/HeadObject: -> response-content-disposition. */
  responseContentDisposition?: string;
  /** UploadPart only (both required): 1..10000. */
  partNumber?: number;
  uploadId?: string;
}

export interface PresignedUrl {
  url: string;
  method: 'GET' | 'HEAD' | 'PUT';
  /**
   * Every header the signature covers (names exactly as in X-Amz-SignedHeaders), with the value
   * the client must send. `host` is included for completeness; HTTP clients send it themselves.
   */
  signedHeaders: Record<string, string>;
  /** X-Amz-Date (second precision) + expiresIn. */
  expiresAt: Date;
}

export interface Presigner {
  presign(input: PresignInput): PresignedUrl;
}

/**
 * Content type the SDK sends (and, with content-type signable, signs) for PutObject/UploadPart
 * when none is given: their payload is a blob, and blob payloads default to this media type.
 */
export const DEFAULT_PUT_CONTENT_TYPE = 'application/octet-stream'

/** Same test as the SDK's endpoint rules (@smithy isIpAddress) on the WHATWG-parsed hostname. */
export const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)){3}$/
/** aws.isVirtualHostableS3Bucket(bucket, false): one DNS label, 3..63 chars, lower-case, no edge hyphens. */
export const VIRTUAL_HOSTABLE_BUCKET = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/
/**
 * Bucket names we sign for: S3's (legacy, relaxed) character set. The SDK also accepts names it
 * routes differently or breaks on; those are rejected in `checkBucket` instead of diverging.
 */
const BUCKET_CHARS = /^[A-Za-z0-9._-]{1,255}$/
/**
 * AWS-reserved suffixes the SDK's endpoint rules treat specially: `--x-s3`/`--xa-s3` are S3
 * Express directory buckets (the SDK would make a network CreateSession call and sign with a
 * session token), `--op-s3` is S3 on Outposts.
 */
const SPECIAL_BUCKET_SUFFIX = /--(?:x|xa|op)-s3$/i
/** Region goes into the credential scope; the SDK requires a valid host label. */
const REGION = /^(?!-)(?![A-Za-z0-9-]*-$)[A-Za-z0-9-]{1,63}$/
/** Signed header values: visible ASCII, spaces and tabs (anything else can't be sent faithfully). */
const HEADER_VALUE = /^[\t\x20-\x7e]*[\x21-\x7e][\t\x20-\x7e]*$/
const CONTENT_LENGTH = /^(?:0|[1-9][0-9]{0,15})$/
/** The only If-None-Match S3 and R2 honour on PutObject: "only if no object has this key". */
const IF_NONE_MATCH_ANY = '*'

interface OperationSpec {
  method: 'GET' | 'HEAD' | 'PUT';
  /**
   * The S3 Smithy model routes GetObject/PutObject/UploadPart as `...?x-id=<Operation>` (a
   * constant query literal that disambiguates operations sharing a method and path), and the
   * SDK puts it in the presigned URL; HeadObject's route has none. To the server it is just one
   * more signed query parameter; we emit exactly what the SDK does so the URLs stay identical.
   */
  xId: string;
}

const OPERATIONS: Readonly<Record<PresignOperation, OperationSpec>> = {
  GetObject: { method: 'GET', xId: '&x-id=GetObject' },
  HeadObject: { method: 'HEAD', xId: '' },
  PutObject: { method: 'PUT', xId: '&x-id=PutObject' },
  UploadPart: { method: 'PUT', xId: '&x-id=UploadPart' }
}

interface ParsedEndpoint {
  /** 'http://' | 'https://' */
  scheme: string;
  /** WHATWG host: lower-cased, default port dropped, IPv6 in brackets. */
  host: string;
  isIp: boolean;
}

function parseEndpoint (endpoint: string): ParsedEndpoint {
  let u: URL
  try {
    u = new URL(endpoint)
  } catch {
    throw new TypeError(`presigner: endpoint is not a URL: ${JSON.stringify(endpoint)}`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new TypeError(`presigner: endpoint must be http(s): ${JSON.stringify(endpoint)}`)
  }
  if (u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '' || u.pathname !== '/' || endpoint.includes('?')) {
    throw new TypeError(`presigner: endpoint must be scheme://host[:port] with no path, query or credentials: ${JSON.stringify(endpoint)}`)
  }
  return { scheme: u.protocol + '//', host: u.host, isIp: IPV4.test(u.hostname) || u.hostname.startsWith('[') }
}

function nonEmptyString (value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new TypeError(`presigner: ${what} must be a non-empty string`)
  return value
}

function wellFormed (value: unknown, what: string): string {
  if (typeof value !== 'string' || !value.isWellFormed()) {
    throw new TypeError(`presigner: ${what} must be a well-formed string (no lone surrogates)`)
  }
  return value
}

function checkBucket (bucket: unknown): string {
  if (
    typeof bucket !== 'string' ||
    !BUCKET_CHARS.test(bucket) ||
    bucket === '.' ||
    bucket === '..' || // would be removed by URL normalization in the SDK
    SPECIAL_BUCKET_SUFFIX.test(bucket) ||
    /^xn--/i.test(bucket) // reserved by S3; the SDK throws building a virtual host from invalid punycode
  ) {
    throw new TypeError(`presigner: unsupported bucket name ${JSON.stringify(bucket)}`)
  }
  return bucket
}

function checkHeaderValue (name: string, value: unknown): string {
  if (typeof value !== 'string' || !HEADER_VALUE.test(value)) {
    throw new TypeError(`presigner: header ${name} must be non-empty visible ASCII (spaces/tabs allowed)`)
  }
  return value
}

export function createPresigner (config: PresignerConfig): Presigner {
  const endpoint = parseEndpoint(config.endpoint)
  const region = nonEmptyString(config.region, 'region')
  if (!REGION.test(region)) throw new TypeError(`presigner: invalid region ${JSON.stringify(region)}`)
  const accessKeyId = wellFormed(nonEmptyString(config.accessKeyId, 'accessKeyId'), 'accessKeyId')
  const secretAccessKey = wellFormed(nonEmptyString(config.secretAccessKey, 'secretAccessKey'), 'secretAccessKey')
  if (typeof config.forcePathStyle !== 'boolean') throw new TypeError('presigner: forcePathStyle must be a boolean')

  // Buckets are never virtual-hosted on an IP endpoint (there is no DNS to route on).
  const mayVirtualHost = !config.forcePathStyle && !endpoint.isIp
  const { scheme, host: endpointHost } = endpoint
  const signingKeys = new SigningKeyCache(secretAccessKey, region, 's3')

  // Query params, in the order both the canonical query and the SDK's URL use (sorted by name):
  //   X-Amz-Algorithm, X-Amz-Content-Sha256, X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
  //   [X-Amz-Signature, URL only], X-Amz-SignedHeaders, partNumber, response-content-disposition,
  //   response-content-type, uploadId, x-id.
  // X-Amz-Content-Sha256=UNSIGNED-PAYLOAD: the SDK's S3 presigner adds it (hoisted from the
  // x-amz-content-sha256 header) because the body is not known when presigning; S3 then expects
  // exactly UNSIGNED-PAYLOAD as the payload hash in the canonical request.
  // Deliberately absent: x-amz-checksum-* / x-amz-sdk-checksum-algorithm / x-amz-checksum-mode.
  // The SDK adds them under its default checksum config (a CRC32 of the *empty* body for PUTs,
  // since the body isn't there at presign time); R2 rejects them.
  const queryHead =
    'X-Amz-Algorithm=' + ALGORITHM + '&X-Amz-Content-Sha256=' + UNSIGNED_PAYLOAD + '&X-Amz-Credential=' + uriEscape(accessKeyId) + '%2F'
  const scopeTail = '/' + region + '/s3/aws4_request'
  const scopeTailEscaped = uriEscape(scopeTail)

  // X-Amz-Date/X-Amz-Expires only change once a second: cache the formatted date.
  let lastSecond = Number.NaN
  let lastAmzDate = ''

  function presign (input: PresignInput): PresignedUrl {
    const op = Object.hasOwn(OPERATIONS, input.operation) ? OPERATIONS[input.operation] : undefined
    if (op === undefined) {
      throw new TypeError(`presigner: unsupported operation ${JSON.stringify(input.operation)}`)
    }
    const bucket = checkBucket(input.bucket)
    const key = input.key
    if (typeof key !== 'string' || key.length === 0) throw new TypeError('presigner: key must be a non-empty string')
    if (!key.isWellFormed()) throw new TypeError('presigner: key must be well-formed UTF-16 (no lone surrogates)')
    const expiresIn = input.expiresIn
    if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_EXPIRES_SECONDS) {
      throw new RangeError(`presigner: expiresIn must be an integer in 1..${MAX_EXPIRES_SECONDS}`)
    }

    const ms = input.signingDate === undefined ? Date.now() : input.signingDate.getTime()
    if (Number.isNaN(ms)) throw new RangeError('presigner: invalid signingDate')
    const second = Math.floor(ms / 1000)
    if (second !== lastSecond) {
      lastAmzDate = formatAmzDate(new Date(second * 1000))
      lastSecond = second
    }
    const amzDate = lastAmzDate
    const date8 = amzDate.slice(0, 8)

    const virtual = mayVirtualHost && VIRTUAL_HOSTABLE_BUCKET.test(bucket)
    const host = virtual ? bucket + '.' + endpointHost : endpointHost
    // Bucket chars are all unreserved, so path-style needs no escaping of the bucket.
    const path = (virtual ? '/' : '/' + bucket + '/') + uriEscapePath(key)

    let canonicalHeaders = ''
    let signedHeaderList: string // for the canonical request
    let signedHeaderParam: string // the same, escaped for the query string
    const signedHeaders: Record<string, string> = {}
    let tail: string // query params after X-Amz-SignedHeaders

    if (op.method === 'PUT') {
      if (input.responseContentType !== undefined || input.responseContentDisposition !== undefined) {
        throw new TypeError(`presigner: response overrides are not valid for ${input.operation}`)
      }
      const isPut = input.operation === 'PutObject'
      let contentType = isPut ? DEFAULT_PUT_CONTENT_TYPE : undefined
      let contentLength: string | undefined
      let contentMd5: string | undefined
      let ifNoneMatch: string | undefined
      const headers = input.headers
      if (headers !== undefined) {
        for (const name in headers) {
          if (!Object.hasOwn(headers, name)) continue
          const value = headers[name]
          if (name === 'content-length') {
            contentLength = checkHeaderValue(name, value)
            if (!CONTENT_LENGTH.test(contentLength) || Number(contentLength) > Number.MAX_SAFE_INTEGER) {
              throw new TypeError('presigner: content-length must be a decimal integer')
            }
          } else if (name === 'content-md5') {
            contentMd5 = checkHeaderValue(name, value)
          } else if (name === 'content-type' && isPut) {
            contentType = checkHeaderValue(name, value)
          } else if (name === 'if-none-match' && isPut) {
            if (value !== IF_NONE_MATCH_ANY) throw new TypeError('presigner: if-none-match must be "*"')
            ifNoneMatch = value
          } else {
            throw new TypeError(`presigner: header ${JSON.stringify(name)} cannot be signed for ${input.operation}`)
          }
        }
      }
      // Sorted: content-length, content-md5, content-type, host, if-none-match.
      signedHeaderList = ''
      signedHeaderParam = ''
      if (contentLength !== undefined) {
        canonicalHeaders += 'content-length:' + contentLength + '\n'
        signedHeaderList += 'content-length;'
        signedHeaderParam += 'content-length%3B'
        signedHeaders['content-length'] = contentLength
      }
      if (contentMd5 !== undefined) {
        canonicalHeaders += 'content-md5:' + canonicalHeaderValue(contentMd5) + '\n'
        signedHeaderList += 'content-md5;'
        signedHeaderParam += 'content-md5%3B'
        signedHeaders['content-md5'] = contentMd5
      }
      // PutObject always signs content-type: the SDK always sends one (see DEFAULT_PUT_CONTENT_TYPE).
      // UploadPart never does: the part's bytes are opaque, and clients rarely set a type on them.
      if (contentType !== undefined) {
        canonicalHeaders += 'content-type:' + canonicalHeaderValue(contentType) + '\n'
        signedHeaderList += 'content-type;'
        signedHeaderParam += 'content-type%3B'
        signedHeaders['content-type'] = contentType
      }
      canonicalHeaders += 'host:' + host + '\n'
      signedHeaderList += 'host'
      signedHeaderParam += 'host'
      if (ifNoneMatch !== undefined) {
        canonicalHeaders += 'if-none-match:' + ifNoneMatch + '\n'
        signedHeaderList += ';if-none-match'
        signedHeaderParam += '%3Bif-none-match'
        signedHeaders['if-none-match'] = ifNoneMatch
      }

      if (input.operation === 'UploadPart') {
        const partNumber = input.partNumber
        if (!Number.isInteger(partNumber) || (partNumber as number) < 1 || (partNumber as number) > 10000) {
          throw new RangeError('presigner: partNumber must be an integer in 1..10000')
        }
        const uploadId = wellFormed(nonEmptyString(input.uploadId, 'uploadId'), 'uploadId')
        tail = '&partNumber=' + String(partNumber) + '&uploadId=' + uriEscape(uploadId) + op.xId
      } else {
        if (input.partNumber !== undefined || input.uploadId !== undefined) {
          throw new TypeError('presigner: partNumber/uploadId are only valid for UploadPart')
        }
        tail = op.xId
      }
    } else {
      // GET/HEAD: only host is signed, so the URL works from a plain browser navigation.
      if (input.headers !== undefined && Object.keys(input.headers).length !== 0) {
        throw new TypeError(`presigner: headers cannot be signed for ${input.operation}`)
      }
      if (input.partNumber !== undefined || input.uploadId !== undefined) {
        throw new TypeError('presigner: partNumber/uploadId are only valid for UploadPart')
      }
      canonicalHeaders += 'host:' + host + '\n'
      signedHeaderList = 'host'
      signedHeaderParam = 'host'
      tail = ''
      if (input.responseContentDisposition !== undefined) {
        tail += '&response-content-disposition=' + uriEscape(wellFormed(input.responseContentDisposition, 'responseContentDisposition'))
      }
      if (input.responseContentType !== undefined) {
        tail += '&response-content-type=' + uriEscape(wellFormed(input.responseContentType, 'responseContentType'))
      }
      tail += op.xId
    }
    signedHeaders['host'] = host

    const queryStart = queryHead + date8 + scopeTailEscaped + '&X-Amz-Date=' + amzDate + '&X-Amz-Expires=' + String(expiresIn)
    const queryEnd = '&X-Amz-SignedHeaders=' + signedHeaderParam + tail
    const canonicalRequest = buildCanonicalRequest(
      op.method,
      path,
      queryStart + queryEnd,
      canonicalHeaders,
      signedHeaderList,
      UNSIGNED_PAYLOAD
    )
    const signature = signCanonicalRequest(signingKeys.get(date8), amzDate, date8 + scopeTail, canonicalRequest)

    return {
      url: scheme + host + path + '?' + queryStart + '&X-Amz-Signature=' + signature + queryEnd,
      method: op.method,
      signedHeaders,
      expiresAt: new Date((second + expiresIn) * 1000)
    }
  }

  return { presign }
}
