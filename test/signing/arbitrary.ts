/**
 * Seeded generators of presigner configs and inputs, for the differential test and the bench.
 * Everything is derived from one 32-bit seed, so any failing case is reproducible.
 */
import type { PresignInput, PresignOperation, PresignerConfig } from '../../src/signing/presigner.js'

/** sfc32-style PRNG seeded through splitmix32: small, fast, deterministic. */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor (seed: number) {
    let s = seed >>> 0
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = next()
    this.b = next()
    this.c = next()
    this.d = next()
    for (let i = 0; i < 12; i++) this.u32()
  }

  u32 (): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** Integer in [lo, hi]. */
  int (lo: number, hi: number): number {
    return lo + Math.floor((this.u32() / 0x1_0000_0000) * (hi - lo + 1))
  }

  bool (p = 0.5): boolean {
    return this.u32() / 0x1_0000_0000 < p
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)] as T
  }
}

export function seedFromEnv (name = 'SEED'): number {
  const raw = process.env[name]
  if (raw !== undefined && raw !== '') {
    const n = Number(raw)
    if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new Error(`${name} must be a uint32, got ${raw}`)
    return n
  }
  return Math.floor(Math.random() * 0x1_0000_0000) >>> 0
}

// --- key material -------------------------------------------------------------------------

const UNRESERVED = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~'
/** Everything that needs (or, for !'()*, only AWS wants) escaping, plus a few controls. */
const RESERVED = [' ', '%', '#', '?', '&', '=', ';', ':', '@', '$', ',', '!', "'", '(', ')', '*', '+', '[', ']', '{', '}', '|', '\\', '^', '`', '"', '<', '>', '\t', '\n', '\u007f', '%2F', '%25', '%20']
const BMP = ['é', 'ü', 'ß', 'ø', 'Ω', 'Ж', 'ש', 'ع', '中', '文', 'ひ', '한', '\u00a0', '\u200b', '\u2028', '\ufeff', '\ufffd', '€', '…', '\ue000']
const ASTRAL = ['😀', '🚀', '𝄞', '𠜎', '👍🏽', '👨‍👩‍👧', '🏳️‍🌈', '\u{10ffff}', '\u{1f1e9}\u{1f1ea}']
const COMBINING = ['e\u0301', 'a\u0308', 'n\u0303', 'A\u030a', 'o\u0302\u0323', /* ṩ */ '\u1e69']

function piece (rng: Rng): string {
  const r = rng.int(0, 99)
  if (r < 45) {
    let s = ''
    for (let i = rng.int(1, 8); i > 0; i--) s += UNRESERVED[rng.int(0, UNRESERVED.length - 1)]
    return s
  }
  if (r < 70) return rng.pick(RESERVED)
  if (r < 82) return rng.pick(BMP)
  if (r < 91) return rng.pick(ASTRAL)
  const c = rng.pick(COMBINING)
  // Same text, composed or decomposed: the signer must not normalize.
  return rng.bool() ? c.normalize('NFC') : c.normalize('NFD')
}

function segment (rng: Rng): string {
  let s = ''
  for (let i = rng.int(1, 5); i > 0; i--) s += piece(rng)
  return s
}

/** Object keys: mostly nested paths; sometimes leading/trailing/double slashes and dot segments. */
export function genKey (rng: Rng): string {
  const n = rng.bool(0.15) ? rng.int(8, 25) : rng.int(1, 4)
  const parts: string[] = []
  for (let i = 0; i < n; i++) {
    const r = rng.int(0, 99)
    parts.push(r < 4 ? '' : r < 6 ? rng.pick(['.', '..']) : segment(rng))
  }
  let key = parts.join('/')
  if (rng.bool(0.05)) key = '/' + key
  if (rng.bool(0.05)) key += '/'
  return key === '' ? 'k' : key
}

// --- buckets, configs -----------------------------------------------------------------------

const DNS_BUCKETS = ['abc', 'my-bucket', 'photos-2024', 'a1b2c3', 'x'.repeat(63), 'bucket--ol-s3', 'a-b--c', 'r2-uploads', 'bucket-s3alias']
/** Valid for us (path style always), not virtual-hostable for the SDK. */
const NON_DNS_BUCKETS = ['My-Bucket', 'my_bucket', 'my.bucket', 'a.b.c', 'ab', 'a', 'x'.repeat(64), '-leading', 'trailing-', '192.168.1.1', 'a..b', 'UPPER', 'mixed.Case_1', 'A'.repeat(255)]

export function genBucket (rng: Rng): string {
  if (rng.bool(0.6)) {
    if (rng.bool(0.5)) return rng.pick(DNS_BUCKETS)
    const alnum = 'abcdefghijklmnopqrstuvwxyz0123456789'
    for (;;) {
      const len = rng.int(3, 63)
      let s = alnum[rng.int(0, alnum.length - 1)] as string
      for (let i = 1; i < len - 1; i++) s += (alnum + '-')[rng.int(0, alnum.length)]
      s += alnum[rng.int(0, alnum.length - 1)]
      if (!/^xn--|--(?:x|xa|op)-s3$/.test(s)) return s // names the presigner (rightly) refuses
    }
  }
  return rng.pick(NON_DNS_BUCKETS)
}

export const ENDPOINTS: readonly string[] = [
  'http://127.0.0.1:17480',
  'http://localhost:9000',
  'https://s3.example.com',
  'https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com',
  'https://S3.Example.COM:443/', // normalizes to https://s3.example.com
  'http://[::1]:9000',
  'https://storage.example.net:8443'
]

export const REGIONS: readonly string[] = ['auto', 'us-east-1', 'eu-central-1']

const CREDENTIALS: readonly (readonly [string, string])[] = [
  ['AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'],
  ['0123456789abcdef0123456789abcdef', 'f'.repeat(64)],
  ['key+with/odd=chars', 's3cr3t+/=!*']
]

/** Every endpoint x region x forcePathStyle, with credentials rotated through. */
export function allConfigs (): PresignerConfig[] {
  const out: PresignerConfig[] = []
  let i = 0
  for (const endpoint of ENDPOINTS) {
    for (const region of REGIONS) {
      for (const forcePathStyle of [false, true]) {
        const [accessKeyId, secretAccessKey] = CREDENTIALS[i++ % CREDENTIALS.length] as readonly [string, string]
        out.push({ endpoint, region, accessKeyId, secretAccessKey, forcePathStyle })
      }
    }
  }
  return out
}

// --- inputs ---------------------------------------------------------------------------------

const CONTENT_TYPES = [
  'text/plain; charset=utf-8',
  'application/octet-stream',
  'image/png',
  'application/json',
  'multipart/form-data; boundary="----=_Part_0_12.34"',
  'text/plain;  charset="utf-8"', // double space: canonicalized to one
  'application/x-www-form-urlencoded',
  'a\t\tb  c', // tabs collapse
  ' text/html ', // leading/trailing space trimmed in the canonical form
  "x/y; name=\"!#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\""
]

const DISPOSITIONS = [
  'inline',
  'attachment',
  'attachment; filename="report.pdf"',
  'attachment; filename="a \\"quoted\\" name.txt"',
  "attachment; filename=\"euro.txt\"; filename*=UTF-8''%E2%82%AC%20rates.txt",
  "attachment; filename*=UTF-8''%F0%9F%98%80.png",
  'attachment; filename="naïve résumé.pdf"', // raw non-ASCII in the query value
  'attachment; filename="😀 + & = ?.txt"',
  ''
]

const RESPONSE_TYPES = ['text/plain; charset=utf-8', 'application/pdf', 'image/svg+xml', 'text/csv; header=present', 'application/vnd.ms-excel', '']

const UPLOAD_IDS = [
  'VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA',
  '2~abcdEFGHijkl_mnop.QRST-uvwx',
  'a/b+c=d==',
  'ZjQ1NzE3MzEtYjI0ZS00M2U2LTk4ZGItNWYwZmU1ZTlkNDcz',
  'id with spaces & symbols!'
]

const OPERATIONS: readonly PresignOperation[] = ['GetObject', 'HeadObject', 'PutObject', 'UploadPart']

function base64 (rng: Rng, bytes: number): string {
  const buf = Buffer.alloc(bytes)
  for (let i = 0; i < bytes; i++) buf[i] = rng.int(0, 255)
  return buf.toString('base64')
}

function contentLength (rng: Rng): string {
  return String(rng.pick([0, 1, 5, 1024, 5_242_880, 5_368_709_120, rng.int(0, 2 ** 31), rng.int(0, 2 ** 52)]))
}

function expiresIn (rng: Rng): number {
  const r = rng.int(0, 9)
  if (r === 0) return 1
  if (r === 1) return 604_800
  if (r < 5) return rng.pick([60, 300, 900, 3600, 86_400])
  return rng.int(1, 604_800)
}

/** Signing dates clustered around UTC day (and month/year) boundaries, plus random ones. */
const BOUNDARIES = [
  Date.UTC(2024, 1, 28, 24), // 2024-02-29T00:00:00Z (leap day)
  Date.UTC(2024, 2, 1),
  Date.UTC(2025, 0, 1), // year boundary
  Date.UTC(2030, 5, 15),
  Date.UTC(2013, 4, 24)
]

export function genDate (rng: Rng): Date {
  if (rng.bool(0.7)) {
    const b = rng.pick(BOUNDARIES)
    // within +-2 s of midnight, with milliseconds (dropped by the signer)
    return new Date(b + rng.int(-2000, 1999))
  }
  return new Date(Date.UTC(2000, 0, 1) + rng.int(0, 40 * 365) * 86_400_000 + rng.int(0, 86_399_999))
}

export function genInput (rng: Rng, operation: PresignOperation = rng.pick(OPERATIONS)): PresignInput {
  const input: PresignInput = {
    operation,
    bucket: genBucket(rng),
    key: genKey(rng),
    expiresIn: expiresIn(rng),
    signingDate: genDate(rng)
  }
  if (operation === 'GetObject' || operation === 'HeadObject') {
    if (rng.bool(0.5)) input.responseContentType = rng.bool(0.8) ? rng.pick(RESPONSE_TYPES) : genKey(rng)
    if (rng.bool(0.5)) input.responseContentDisposition = rng.bool(0.8) ? rng.pick(DISPOSITIONS) : genKey(rng)
  } else {
    const headers: Record<string, string> = {}
    if (operation === 'PutObject' && rng.bool(0.7)) headers['content-type'] = rng.pick(CONTENT_TYPES)
    if (rng.bool(0.5)) headers['content-length'] = contentLength(rng)
    if (rng.bool(0.4)) headers['content-md5'] = base64(rng, 16)
    if (operation === 'PutObject' && rng.bool(0.3)) headers['if-none-match'] = '*'
    if (Object.keys(headers).length > 0 || rng.bool(0.5)) input.headers = headers
    if (operation === 'UploadPart') {
      input.partNumber = rng.pick([1, 2, 10, 9999, 10_000, rng.int(1, 10_000)])
      input.uploadId = rng.bool(0.7) ? rng.pick(UPLOAD_IDS) : base64(rng, rng.int(16, 60))
    }
  }
  return input
}

/** JSON description of a case for failure messages (test credentials only; Date -> ISO string). */
export function describeCase (config: PresignerConfig, input: PresignInput): string {
  return JSON.stringify({ config, input: { ...input, signingDate: input.signingDate?.toISOString() } })
}
