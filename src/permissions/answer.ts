import { parseStrictJsonBytes, StrictJsonError, type JsonObject, type JsonValue } from './strict-json.js'
import { parseUploadLimits, type UploadLimits } from '../uploads/policy.js'

/**
 * Reads the body of a permission service's 200 answer: `{"allowed": <boolean>, ...}`.
 * Strict on purpose (./strict-json.ts): a duplicate key anywhere, a byte order mark, bytes that
 * are not UTF-8 or any other ambiguity make the answer unusable, so the check fails closed.
 * `limits` (upload limits, src/uploads/policy.ts), when present, must be well formed too: a
 * malformed one makes the whole answer unusable. Other members are ignored. The batch form
 * (`results: [...]`) is read by readBatchPermissionAnswer below: each result as one answer.
 */
export type PermissionAnswerBody =
  | { ok: true, allowed: boolean, limits?: UploadLimits, body: JsonObject }
  | { ok: false, problem: string }

export function readPermissionAnswer (bytes: Uint8Array): PermissionAnswerBody {
  const parsed = parse(bytes)
  return 'problem' in parsed ? parsed : readDecision(parsed.body)
}

/** A batch answer: one decision per check, in order, each read as a single answer is. */
export type BatchAnswerBody =
  | { ok: true, results: Array<Extract<PermissionAnswerBody, { ok: true }>> }
  | { ok: false, problem: string }

/**
 * Reads the body of a batch endpoint's 200 answer: `{"results": [{"allowed": <boolean>, ...}, ...]}`
 * with exactly `expected` results, in the order of the checks asked. Anything else (a result
 * missing or extra, one whose `allowed` is not a boolean or whose limits are malformed) makes the
 * whole answer unusable: the results are positional, so one wrong entry means none can be trusted.
 */
export function readBatchPermissionAnswer (bytes: Uint8Array, expected: number): BatchAnswerBody {
  const parsed = parse(bytes)
  if ('problem' in parsed) return parsed
  const { body } = parsed
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { ok: false, problem: 'not a JSON object' }
  const { results } = body
  if (!Array.isArray(results)) return { ok: false, problem: '"results" is not an array' }
  if (results.length !== expected) return { ok: false, problem: `${results.length} results for ${expected} checks` }
  const read: Array<Extract<PermissionAnswerBody, { ok: true }>> = []
  for (const [index, result] of results.entries()) {
    const decision = readDecision(result)
    if (!decision.ok) return { ok: false, problem: `result ${index}: ${decision.problem}` }
    read.push(decision)
  }
  return { ok: true, results: read }
}

function parse (bytes: Uint8Array): { ok: false, problem: string } | { body: JsonValue } {
  try {
    return { body: parseStrictJsonBytes(bytes) }
  } catch (error) {
    if (error instanceof StrictJsonError) return { ok: false, problem: error.message }
    throw error
  }
}

/** `{"allowed": <boolean>, "limits"?: {...}}`: one decision, single or in a batch. */
function readDecision (body: JsonValue): PermissionAnswerBody {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { ok: false, problem: 'not a JSON object' }
  const { allowed } = body
  if (typeof allowed !== 'boolean') return { ok: false, problem: '"allowed" is not a boolean' }
  if (body.limits === undefined) return { ok: true, allowed, body }
  const limits = parseUploadLimits(body.limits)
  if (!limits.ok) return { ok: false, problem: limits.problem }
  return { ok: true, allowed, limits: limits.limits, body }
}
