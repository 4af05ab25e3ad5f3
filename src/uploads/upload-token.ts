/**
 * The `uploadToken` of a multipart upload: what POST /v1/multipart-uploads planned, carried by the
 * client to part-urls and complete, so the service stays stateless (no store, works across
 * restarts and instances) and still signs each part for its planned size.
 *
 * Form: `v1.<payload>.<mac>`, both base64url; the payload is JSON of the bound fields (upload ID,
 * bucket, key, size, part size, content type, the effective limits, expiry), the mac an
 * HMAC-SHA256 over `v1.<payload>` with a key derived (HKDF-SHA256, fixed label) from
 * S3_SECRET_ACCESS_KEY: no new variable, and whoever can forge a token could sign storage
 * requests anyway. Rotating the storage secret invalidates open tokens (their uploads can still
 * be listed and aborted, which need no token).
 *
 * Not a secret from its owner (the payload is readable), but a bearer of the plan: never logged.
 * It expires UPLOAD_TOKEN_LIFETIME_SECONDS after creation, R2's default lifetime of an incomplete
 * multipart upload (7 days).
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import type { UploadPolicy } from './policy.js'

export const UPLOAD_TOKEN_LIFETIME_SECONDS = 7 * 24 * 3600
/** Upload IDs and keys up to 1 KiB each, base64url: well under this. */
export const UPLOAD_TOKEN_MAX_LENGTH = 8192
export const UPLOAD_TOKEN_PATTERN = '^v1\\.[A-Za-z0-9_-]{1,8000}\\.[A-Za-z0-9_-]{43}$'

const VERSION = 'v1'
const LABEL = 'r2-signer upload token v1'

/** What a token binds. */
export interface UploadPlan {
  uploadId: string
  bucket: string
  key: string
  size: number
  partSize: number
  contentType: string
  policy: UploadPolicy
  /** Unix seconds. */
  expiresAt: number
}

interface Payload {
  u: string
  b: string
  k: string
  s: number
  p: number
  t: string
  m: number
  c: string[][]
  w: boolean
  e: number
}

export interface UploadTokens {
  issue: (plan: Omit<UploadPlan, 'expiresAt'>, nowMs?: number) => string
  /** The plan, when `token` is intact, unexpired and for this upload, bucket and key; else undefined. */
  verify: (token: string, upload: { uploadId: string, bucket: string, key: string }, nowMs?: number) => UploadPlan | undefined
}

export function createUploadTokens (storageSecret: string): UploadTokens {
  const key = Buffer.from(hkdfSync('sha256', storageSecret, '', LABEL, 32))
  const mac = (signed: string) => createHmac('sha256', key).update(signed).digest()

  return {
    issue (plan, nowMs = Date.now()) {
      const payload: Payload = {
        u: plan.uploadId,
        b: plan.bucket,
        k: plan.key,
        s: plan.size,
        p: plan.partSize,
        t: plan.contentType,
        m: plan.policy.maxBytes,
        c: plan.policy.contentTypes,
        w: plan.policy.writeOnce,
        e: Math.floor(nowMs / 1000) + UPLOAD_TOKEN_LIFETIME_SECONDS
      }
      const signed = `${VERSION}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`
      return `${signed}.${mac(signed).toString('base64url')}`
    },
    verify (token, upload, nowMs = Date.now()) {
      const parts = token.split('.')
      if (parts.length !== 3 || parts[0] !== VERSION) return undefined
      const [, body = '', given = ''] = parts
      const expected = mac(`${VERSION}.${body}`)
      const actual = Buffer.from(given, 'base64url')
      if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return undefined
      let p: Payload
      try {
        p = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Payload
      } catch {
        return undefined
      }
      if (p.u !== upload.uploadId || p.b !== upload.bucket || p.k !== upload.key) return undefined
      if (!(p.e > nowMs / 1000)) return undefined
      return {
        uploadId: p.u,
        bucket: p.b,
        key: p.k,
        size: p.s,
        partSize: p.p,
        contentType: p.t,
        policy: { maxBytes: p.m, contentTypes: p.c, writeOnce: p.w },
        expiresAt: p.e
      }
    }
  }
}
