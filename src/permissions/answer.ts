import { parseStrictJsonBytes, StrictJsonError, type JsonObject } from './strict-json.js'

/**
 * Reads the body of a permission service's 200 answer: `{"allowed": <boolean>, ...}`.
 * Strict on purpose (./strict-json.ts): a duplicate key anywhere, a byte order mark, bytes that
 * are not UTF-8 or any other ambiguity make the answer unusable, so the check fails closed.
 * Other members are ignored today; the limits (`limits: {...}`) will be read from the same parsed
 * object. The batch form is read by readBatchPermissionAnswer below, with the same reader.
 */
export type PermissionAnswerBody =
  | { ok: true, allowed: boolean, body: JsonObject }
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
  return { ok: true, allowed, body }
}

/** One result of a batch answer: the decision and, when given, the result's own object (limits…). */
export type BatchAnswerBody =
  | { ok: true, results: Array<{ allowed: boolean, body: JsonObject }> }
  | { ok: false, problem: string }

/**
 * Reads the body of a batch endpoint's 200 answer: `{"results": [{"allowed": <boolean>, ...}, ...]}`
 * with exactly `expected` results, in the order of the checks asked. Anything else (a result
 * missing or extra, one whose `allowed` is not a boolean) makes the whole answer unusable: the
 * results are positional, so one wrong entry means no entry can be trusted.
 */
export function readBatchPermissionAnswer (bytes: Uint8Array, expected: number): BatchAnswerBody {
  let body
  try {
    body = parseStrictJsonBytes(bytes)
  } catch (error) {
    if (error instanceof StrictJsonError) return { ok: false, problem: error.message }
    throw error
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { ok: false, problem: 'not a JSON object' }
  const { results } = body
  if (!Array.isArray(results)) return { ok: false, problem: '"results" is not an array' }
  if (results.length !== expected) return { ok: false, problem: `${results.length} results for ${expected} checks` }
  const read: Array<{ allowed: boolean, body: JsonObject }> = []
  for (const [index, result] of results.entries()) {
    if (result === null || typeof result !== 'object' || Array.isArray(result)) return { ok: false, problem: `result ${index} is not a JSON object` }
    if (typeof result.allowed !== 'boolean') return { ok: false, problem: `result ${index}: "allowed" is not a boolean` }
    read.push({ allowed: result.allowed, body: result })
  }
  return { ok: true, results: read }
}
