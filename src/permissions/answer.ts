import { parseStrictJsonBytes, StrictJsonError, type JsonObject } from './strict-json.js'
import { parseUploadLimits, type UploadLimits } from '../uploads/policy.js'

/**
 * Reads the body of a permission service's 200 answer: `{"allowed": <boolean>, ...}`.
 * Strict on purpose (./strict-json.ts): a duplicate key anywhere, a byte order mark, bytes that
 * are not UTF-8 or any other ambiguity make the answer unusable, so the check fails closed.
 * `limits` (upload limits, src/uploads/policy.ts), when present, must be well formed too: a
 * malformed one makes the whole answer unusable. Other members are ignored; the batch form
 * (`results: [...]`) will be read from the same parsed object.
 */
export type PermissionAnswerBody =
  | { ok: true, allowed: boolean, limits?: UploadLimits, body: JsonObject }
  | { ok: false, problem: string }

export function readPermissionAnswer (bytes: Uint8Array): PermissionAnswerBody {
  let body
  try {
    body = parseStrictJsonBytes(bytes)
  } catch (error) {
    if (error instanceof StrictJsonError) return { ok: false, problem: error.message }
    throw error
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { ok: false, problem: 'not a JSON object' }
  const { allowed } = body
  if (typeof allowed !== 'boolean') return { ok: false, problem: '"allowed" is not a boolean' }
  if (body.limits === undefined) return { ok: true, allowed, body }
  const limits = parseUploadLimits(body.limits)
  if (!limits.ok) return { ok: false, problem: limits.problem }
  return { ok: true, allowed, limits: limits.limits, body }
}
