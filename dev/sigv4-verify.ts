// AWS Signature Version 4 verification, written from the spec for the dev S3 emulator.
// It deliberately shares no code with src/: it is an independent check of r2-signer's signer.
// Spec: https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

export interface SigV4Request {
  method: string
  /** Request target exactly as received (`req.url`): raw encoded path plus query. */
  url: string
  /** Header values by lowercase name, repeated headers kept apart (Node's `req.headersDistinct`). */
  headers: Record<string, string[] | undefined>
}

export interface SigV4Options {
  region: string
  service?: string
  /** The secret of an access key id, or undefined when the key is unknown. */
  secretFor(accessKeyId: string): string | undefined
  now?: Date
}

export type SigV4Result =
  | { ok: true; accessKeyId: string; presigned: boolean; payloadHash: string; signedHeaders: string[] }
  | SigV4Failure

export interface SigV4Failure {
  ok: false
  status: 400 | 403
  code: string
  message: string
  /** Extra elements for the S3 error document (S3 itself returns these; they make debugging easy). */
  details?: Record<string, string>
}

const ALGORITHM = 'AWS4-HMAC-SHA256'
const MAX_EXPIRES_SECONDS = 7 * 24 * 3600
const MAX_SKEW_MS = 15 * 60 * 1000
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD'

export function verifySigV4 (req: SigV4Request, opts: SigV4Options): SigV4Result {
  const now = opts.now ?? new Date()
  const qIndex = req.url.indexOf('?')
  const rawPath = qIndex < 0 ? req.url : req.url.slice(0, qIndex)
  const query = parseQuery(qIndex < 0 ? '' : req.url.slice(qIndex + 1))
  if (!query) return fail(400, 'InvalidArgument', 'The query string is not correctly percent-encoded.')
  const param = (name: string) => query.find(([k]) => k === name)?.[1]
  const authHeader = req.headers.authorization?.[0]
  const presigned = param('X-Amz-Algorithm') !== undefined || param('X-Amz-Signature') !== undefined

  if (authHeader && presigned) return fail(400, 'InvalidArgument', 'Only one auth mechanism allowed.')
  if (!authHeader && !presigned) return fail(403, 'AccessDenied', 'Access Denied (the request is not signed).')

  // Gather the four inputs the same way for both mechanisms, then check them in one place.
  let fields: { algorithm?: string; credential?: string; signedHeaders?: string; signature?: string; date?: string }
  let payloadHash: string
  const malformed = presigned ? 'AuthorizationQueryParametersError' : 'AuthorizationHeaderMalformed'
  if (presigned) {
    fields = {
      algorithm: param('X-Amz-Algorithm'),
      credential: param('X-Amz-Credential'),
      signedHeaders: param('X-Amz-SignedHeaders'),
      signature: param('X-Amz-Signature'),
      date: param('X-Amz-Date')
    }
    // Presigned URLs carry no body hash unless the signer put one in the query.
    payloadHash = param('X-Amz-Content-Sha256') ?? UNSIGNED_PAYLOAD
  } else {
    const parsed = parseAuthorizationHeader(authHeader!)
    if (!parsed) return fail(400, malformed, `The authorization header is malformed: "${authHeader}".`)
    fields = { ...parsed, date: req.headers['x-amz-date']?.[0] }
    const declared = req.headers['x-amz-content-sha256']?.[0]
    if (declared === undefined) {
      return fail(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256')
    }
    // Dev shortcut (see brief): the declared hash is trusted, the body is not hashed.
    if (!/^([0-9a-f]{64}|UNSIGNED-PAYLOAD|STREAMING-[A-Z0-9-]+)$/.test(declared)) {
      return fail(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-…, or a hex SHA-256.')
    }
    payloadHash = declared
  }

  const { algorithm, credential, signedHeaders, signature, date } = fields
  if (algorithm !== ALGORITHM) return fail(400, malformed, `Unsupported algorithm "${algorithm}", expecting ${ALGORITHM}.`)
  if (!credential || !signedHeaders || !signature) {
    return fail(400, malformed, 'Credential, SignedHeaders and Signature are all required.')
  }
  if (!date || !/^\d{8}T\d{6}Z$/.test(date)) {
    return presigned
      ? fail(400, malformed, 'X-Amz-Date must be in the ISO8601 basic format yyyyMMddTHHmmssZ.')
      : fail(403, 'AccessDenied', 'AWS authentication requires a valid x-amz-date header (yyyyMMddTHHmmssZ).')
  }
  const signedAt = parseAmzDate(date)

  // Credential = <access key id>/<yyyymmdd>/<region>/<service>/aws4_request
  const scopeParts = credential.split('/')
  if (scopeParts.length !== 5) return fail(400, malformed, `Malformed credential "${credential}".`)
  const [accessKeyId, scopeDate, scopeRegion, scopeService, terminator] = scopeParts as [string, string, string, string, string]
  const service = opts.service ?? 's3'
  if (scopeDate !== date.slice(0, 8)) {
    return fail(400, malformed, `Credential date "${scopeDate}" does not match the request date "${date.slice(0, 8)}".`)
  }
  if (!regionMatches(scopeRegion, opts.region)) {
    return fail(400, malformed, `The region '${scopeRegion}' is wrong; expecting '${opts.region}'.`)
  }
  if (scopeService !== service || terminator !== 'aws4_request') {
    return fail(400, malformed, `Credential scope must end in "/${service}/aws4_request".`)
  }
  const secret = opts.secretFor(accessKeyId)
  if (secret === undefined) {
    return fail(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.')
  }

  // Time checks come before the signature, as in S3: an expired URL says so even when tampered with.
  if (presigned) {
    const expires = param('X-Amz-Expires') ?? ''
    if (!/^\d+$/.test(expires) || Number(expires) < 1 || Number(expires) > MAX_EXPIRES_SECONDS) {
      return fail(400, malformed, `X-Amz-Expires must be an integer from 1 to ${MAX_EXPIRES_SECONDS}.`)
    }
    if (now.getTime() > signedAt + Number(expires) * 1000) {
      return fail(403, 'AccessDenied', 'Request has expired', {
        'X-Amz-Expires': expires,
        Expires: new Date(signedAt + Number(expires) * 1000).toISOString(),
        ServerTime: now.toISOString()
      })
    }
    if (signedAt - now.getTime() > MAX_SKEW_MS) return fail(403, 'AccessDenied', 'Request is not valid yet')
  } else if (Math.abs(now.getTime() - signedAt) > MAX_SKEW_MS) {
    return fail(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.')
  }

  // SignedHeaders: lowercase, sorted, unique, and including host (otherwise the URL is replayable elsewhere).
  const names = signedHeaders.split(';')
  const canonicalOrder = [...new Set(names.map((n) => n.toLowerCase()))].sort()
  if (names.join(';') !== canonicalOrder.join(';') || names.some((n) => n === '')) {
    return fail(400, malformed, `SignedHeaders must be lowercase, sorted and unique: "${signedHeaders}".`)
  }
  if (!names.includes('host')) return fail(400, malformed, 'SignedHeaders must include host.')
  // S3 refuses x-amz-* headers that the signer did not cover: they could change what the request does.
  const unsigned = Object.keys(req.headers).filter((h) => h.startsWith('x-amz-') && !names.includes(h))
  if (unsigned.length > 0) {
    return fail(403, 'AccessDenied', 'There were headers present in the request which were not signed', {
      HeadersNotSigned: unsigned.join(', ')
    })
  }

  const canonicalRequest = [
    req.method,
    rawPath, // S3: the path as sent, not normalised and not encoded a second time
    canonicalQueryString(query.filter(([k]) => !(presigned && k === 'X-Amz-Signature'))),
    names.map((n) => `${n}:${canonicalHeaderValue(req.headers[n])}\n`).join(''),
    signedHeaders,
    payloadHash
  ].join('\n')
  const scope = `${scopeDate}/${scopeRegion}/${scopeService}/aws4_request`
  const stringToSign = [ALGORITHM, date, scope, sha256Hex(canonicalRequest)].join('\n')
  const expected = hmac(signingKey(secret, scopeDate, scopeRegion, scopeService), stringToSign).toString('hex')

  if (!/^[0-9a-f]{64}$/.test(signature) || !timingSafeEqual(Buffer.from(signature), Buffer.from(expected))) {
    return fail(403, 'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      { AWSAccessKeyId: accessKeyId, StringToSign: stringToSign, CanonicalRequest: canonicalRequest })
  }
  return { ok: true, accessKeyId, presigned, payloadHash, signedHeaders: names }
}

// --- building blocks (exported for tests and for the emulator's routing) ----------------------

/** SigV4 URI encoding: every byte except A-Z a-z 0-9 - _ . ~ as %XX (uppercase hex). */
export function uriEncode (value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/** Decoded [name, value] pairs in order; undefined when a %-sequence is invalid. `+` stays a plus. */
export function parseQuery (raw: string): Array<[string, string]> | undefined {
  const pairs: Array<[string, string]> = []
  try {
    for (const part of raw.split('&')) {
      if (part === '') continue
      const eq = part.indexOf('=')
      const name = eq < 0 ? part : part.slice(0, eq)
      const value = eq < 0 ? '' : part.slice(eq + 1)
      pairs.push([decodeURIComponent(name), decodeURIComponent(value)])
    }
  } catch {
    return undefined
  }
  return pairs
}

/** Re-encode every name and value the SigV4 way, then sort by name, then value. */
export function canonicalQueryString (pairs: Array<[string, string]>): string {
  return pairs
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([ka, va], [kb, vb]) => (ka < kb ? -1 : ka > kb ? 1 : va < vb ? -1 : va > vb ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
}

/** Repeated headers are joined with ","; each value trimmed with inner whitespace runs collapsed. */
export function canonicalHeaderValue (values: string[] | undefined): string {
  return (values ?? []).map((v) => v.replace(/\s+/g, ' ').trim()).join(',')
}

export function signingKey (secret: string, date: string, region: string, service: string): Buffer {
  const kDate = hmac(`AWS4${secret}`, date)
  return hmac(hmac(hmac(kDate, region), service), 'aws4_request')
}

function parseAuthorizationHeader (header: string): { algorithm: string; credential?: string; signedHeaders?: string; signature?: string } | undefined {
  const space = header.indexOf(' ')
  if (space < 0) return undefined
  const components = new Map<string, string>()
  for (const part of header.slice(space + 1).split(',')) {
    const eq = part.indexOf('=')
    if (eq < 0) return undefined
    components.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim())
  }
  return {
    algorithm: header.slice(0, space),
    credential: components.get('Credential'),
    signedHeaders: components.get('SignedHeaders'),
    signature: components.get('Signature')
  }
}

// R2 treats "us-east-1" and "" as aliases of its single region "auto"; mimic that.
function regionMatches (scopeRegion: string, region: string): boolean {
  return scopeRegion === region || (region === 'auto' && (scopeRegion === 'us-east-1' || scopeRegion === ''))
}

function parseAmzDate (d: string): number {
  return Date.UTC(+d.slice(0, 4), +d.slice(4, 6) - 1, +d.slice(6, 8), +d.slice(9, 11), +d.slice(11, 13), +d.slice(13, 15))
}

function hmac (key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest()
}

function sha256Hex (data: string): string {
  return createHash('sha256').update(data, 'utf8').digest('hex')
}

function fail (status: 400 | 403, code: string, message: string, details?: Record<string, string>): SigV4Failure {
  return { ok: false, status, code, message, ...(details ? { details } : {}) }
}
