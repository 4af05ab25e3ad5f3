import type { FastifyInstance } from 'fastify'
import type { Authorization } from '../permissions/plugin.js'
import { HttpProblem } from '../http/problem.js'
import { effectivePolicy, policyRefusal } from './policy.js'

/** What one single-PUT upload asks for (POST /v1/upload-urls' body, or one item of a batch). */
export interface SingleUploadRequest {
  contentType: string
  contentLength: number
  contentMd5?: string | undefined
  /** Sign `if-none-match: *`; a policy that says write-once applies whatever this says. */
  writeOnce?: boolean | undefined
}

/** The answer of POST /v1/upload-urls (UploadUrlResponse). */
export interface SignedUpload {
  url: string
  method: 'PUT'
  /** Every header the uploader must send exactly (all signed; Host left out). */
  headers: Record<string, string>
  bucket: string
  key: string
  expiresIn: number
  expiresAt: string
}

export type SignUploadResult = { ok: true, answer: SignedUpload } | { ok: false, problem: HttpProblem }

/**
 * The single-PUT upload, after authorization: the effective policy (UPLOAD_MAX_BYTES and
 * UPLOAD_CONTENT_TYPES, narrowed by the permission decision's limits) → 413 UPLOAD_TOO_LARGE /
 * 403 CONTENT_TYPE_NOT_ALLOWED → the signed headers (content-type, content-length, content-md5,
 * if-none-match: * when write-once) → the presigned URL. Storage enforces what is signed: another
 * length is 403, an existing key under write-once is 412.
 *
 * Never throws for a refusal (a batch reports a problem per item). `signingDate`: one instant for
 * a batch, so every URL expires together.
 */
export function signUpload (
  app: FastifyInstance,
  authorization: Extract<Authorization, { allowed: true }>,
  request: SingleUploadRequest,
  expiresIn: number,
  signingDate?: Date
): SignUploadResult {
  const { bucket, key, decision } = authorization
  const policy = effectivePolicy(app.config.uploads, decision.limits)
  const refusal = policyRefusal(policy, request.contentLength, request.contentType)
  if (refusal !== undefined) return { ok: false, problem: new HttpProblem(refusal.code, refusal.detail) }

  const headers: Record<string, string> = {
    'content-type': request.contentType,
    'content-length': String(request.contentLength)
  }
  if (request.contentMd5 !== undefined) headers['content-md5'] = request.contentMd5
  if (policy.writeOnce || request.writeOnce === true) headers['if-none-match'] = '*'

  const signed = app.signing.presign({ operation: 'PutObject', bucket, key, expiresIn, headers, ...(signingDate !== undefined && { signingDate }) })
  return {
    ok: true,
    answer: { url: signed.url, method: 'PUT', headers, bucket, key, expiresIn, expiresAt: signed.expiresAt.toISOString() }
  }
}
