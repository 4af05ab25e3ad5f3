/**
 * Low-level AWS Signature Version 4 primitives for query-string ("presigned URL") auth.
 *
 * Everything here is synchronous node:crypto + string building, no network and no
 * URL/URLSearchParams, so the presigner's hot path can use it directly. The generic composition
 * of the same primitives (test/signing/sign-query.ts) reproduces AWS's published example with
 * the code the presigner uses.
 *
 * Spec: https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
 */
import { createHmac, hash } from 'node:crypto'

export const ALGORITHM = 'AWS4-HMAC-SHA256'
/** S3 lets query-signed requests skip hashing the body; the canonical request carries this literal. */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD'
export const KEY_TYPE = 'aws4_request'
/** SigV4 query auth caps X-Amz-Expires at 7 days: the ceiling of every TTL setting and request. */
export const MAX_EXPIRES_SECONDS = 604_800

// encodeURIComponent leaves !'()* unescaped; SigV4 (and the SDK's @smithy escapeUri /
// extendedEncodeURIComponent) want only A-Z a-z 0-9 - _ . ~ left alone.
const EXTRA: Readonly<Record<string, string>> = { '!': '%21', "'": '%27', '(': '%28', ')': '%29', '*': '%2A', '%2F': '/' }
const extra = (c: string): string => EXTRA[c] as string
const HAS_EXTRA = /[!'()*]/
const EXTRA_G = /[!'()*]/g
const EXTRA_OR_SLASH_G = /[!'()*]|%2F/g

/**
 * RFC 3986 percent-encoding of UTF-8, byte-identical to @smithy/core `escapeUri`
 * (used by the SDK for query keys/values, both in the canonical query and in the URL).
 * Throws URIError on lone surrogates, like the SDK.
 */
export function uriEscape (s: string): string {
  const e = encodeURIComponent(s)
  return HAS_EXTRA.test(e) ? e.replace(EXTRA_G, extra) : e
}

/**
 * Encoding of an S3 object key in the path: every '/'-separated segment escaped like
 * `uriEscape`, slashes kept. Identical to the SDK's greedy-label serialization
 * (`key.split('/').map(extendedEncodeURIComponent).join('/')`), done in one pass: after
 * encodeURIComponent, "%2F" can only come from a real '/', since a literal '%' becomes "%25".
 * S3 signs the path as sent (no normalization, no double encoding), so this string is both the
 * URL path and the canonical URI.
 */
export function uriEscapePath (s: string): string {
  const e = encodeURIComponent(s)
  if (HAS_EXTRA.test(e)) return e.replace(EXTRA_OR_SLASH_G, extra)
  // The common key (slashes, no !'()*): a plain replaceAll, without a callback per match.
  return e.includes('%2F') ? e.replaceAll('%2F', '/') : e
}

/** `YYYYMMDDTHHMMSSZ` (UTC, milliseconds dropped), as X-Amz-Date. */
export function formatAmzDate (date: Date): string {
  const iso = date.toISOString() // throws RangeError on an invalid Date
  if (iso.length !== 24) throw new RangeError(`signing date out of range: ${iso}`) // years < 0 or > 9999
  return (
    iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + 'T' + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'Z'
  )
}

export function credentialScope (date8: string, region: string, service: string): string {
  return `${date8}/${region}/${service}/${KEY_TYPE}`
}

/** kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"). */
export function deriveSigningKey (secretAccessKey: string, date8: string, region: string, service: string): Buffer {
  const kDate = createHmac('sha256', 'AWS4' + secretAccessKey).update(date8).digest()
  const kRegion = createHmac('sha256', kDate).update(region).digest()
  const kService = createHmac('sha256', kRegion).update(service).digest()
  return createHmac('sha256', kService).update(KEY_TYPE).digest()
}

/**
 * Signing keys depend only on (secret, date, region, service): one per UTC day for a fixed
 * credential. Keeps the current day on a fast path and a few others (requests straddling
 * midnight, explicit signing dates) in a small insertion-ordered map, each as its keyed HMAC.
 */
export class SigningKeyCache {
  private lastDate = ''
  private lastKey: KeyedHmac | undefined
  private readonly keys = new Map<string, KeyedHmac>()

  constructor (
    private readonly secretAccessKey: string,
    private readonly region: string,
    private readonly service: string,
    private readonly maxEntries = 4
  ) {}

  get (date8: string): KeyedHmac {
    if (date8 === this.lastDate && this.lastKey !== undefined) return this.lastKey
    let key = this.keys.get(date8)
    if (key === undefined) {
      key = keyedHmacSha256Hex(deriveSigningKey(this.secretAccessKey, date8, this.region, this.service))
      if (this.keys.size >= this.maxEntries) {
        const oldest = this.keys.keys().next().value
        if (oldest !== undefined) this.keys.delete(oldest)
      }
      this.keys.set(date8, key)
    }
    this.lastDate = date8
    this.lastKey = key
    return key
  }
}

/**
 * Canonical form of a header value, as the SDK computes it (CR/LF -> space, runs of spaces/tabs
 * collapsed, one leading/trailing space trimmed) — servers apply the same to what they receive.
 */
export function canonicalHeaderValue (value: string): string {
  return value.replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').replace(/^ | $/g, '')
}

/**
 * CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n HashedPayload.
 * `canonicalHeaders` is the already-sorted `name:value\n` block (each line ends in '\n', hence the blank line).
 */
export function buildCanonicalRequest (
  method: string,
  canonicalUri: string,
  canonicalQuery: string,
  canonicalHeaders: string,
  signedHeaders: string,
  payloadHash: string
): string {
  return method + '\n' + canonicalUri + '\n' + canonicalQuery + '\n' + canonicalHeaders + '\n' + signedHeaders + '\n' + payloadHash
}

/**
 * SHA-256 of a string's UTF-8 bytes, as hex or base64 (also the decision cache's key hash).
 * One-shot crypto.hash: cheaper than createHash for short inputs (docs/performance.md).
 */
export const sha256 = (data: string, encoding: 'hex' | 'base64'): string => hash('sha256', data, encoding)

export const sha256Hex = (data: string): string => sha256(data, 'hex')

export function buildStringToSign (amzDate: string, scope: string, canonicalRequest: string): string {
  return ALGORITHM + '\n' + amzDate + '\n' + scope + '\n' + sha256Hex(canonicalRequest)
}

export function hmacHex (key: Buffer, data: string): string {
  return createHmac('sha256', key).update(data, 'utf8').digest('hex')
}

const HMAC_BLOCK = 64

/** A signing key, ready to sign: data → hex HMAC-SHA256 under that key. */
export type KeyedHmac = (data: string) => string

/**
 * hex(HMAC-SHA256(key, data)) under one fixed key, as two one-shot SHA-256 calls (RFC 2104:
 * H((K ^ opad) || H((K ^ ipad) || data))) on buffers padded once. Same result as `hmacHex`, but
 * createHmac builds a native object per call, which under load cost ≈3 µs per URL against ≈1 here
 * (docs/performance.md). Synchronous and single-threaded, so one scratch buffer per key is safe.
 */
export function keyedHmacSha256Hex (key: Buffer): KeyedHmac {
  const block = key.length > HMAC_BLOCK ? hash('sha256', key, 'buffer') : key
  let inner = Buffer.alloc(HMAC_BLOCK + 512)
  const outer = Buffer.alloc(HMAC_BLOCK + 32)
  for (let i = 0; i < HMAC_BLOCK; i++) {
    const k = block[i] ?? 0
    inner[i] = k ^ 0x36
    outer[i] = k ^ 0x5c
  }
  return (data) => {
    const length = Buffer.byteLength(data, 'utf8')
    if (HMAC_BLOCK + length > inner.length) {
      const grown = Buffer.alloc(HMAC_BLOCK + length)
      inner.copy(grown, 0, 0, HMAC_BLOCK)
      inner = grown
    }
    inner.write(data, HMAC_BLOCK, 'utf8')
    hash('sha256', inner.subarray(0, HMAC_BLOCK + length), 'buffer').copy(outer, HMAC_BLOCK)
    return hash('sha256', outer, 'hex')
  }
}

/** Signature = hex(HMAC(kSigning, StringToSign)), with kSigning ready to sign (SigningKeyCache, keyedHmacSha256Hex). */
export function signCanonicalRequest (signingKey: KeyedHmac, amzDate: string, scope: string, canonicalRequest: string): string {
  return signingKey(buildStringToSign(amzDate, scope, canonicalRequest))
}
