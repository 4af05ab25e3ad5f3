import { Problem } from '../../schemas/common.js'
import { PROBLEMS, type ProblemCode } from '../../http/problem.js'
import { problemResponseDocs, type ProblemResponseDocs } from '../../openapi/problems.js'

/** Route schema parts every /v1 operation shares (cf. supabase/storage's route helpers). */
export const bearerAuth = [{ bearerAuth: [] }]

type ProblemResponse = {
  description: string
  headers?: ProblemResponseDocs['headers']
  content: { 'application/problem+json': { schema: typeof Problem, examples: ProblemResponseDocs['examples'] } }
}

function problemResponse (status: number, codes?: readonly ProblemCode[]): ProblemResponse {
  const { description, headers, examples } = problemResponseDocs(status, codes)
  return {
    description,
    ...(headers !== undefined && { headers }),
    content: { 'application/problem+json': { schema: Problem, examples } }
  }
}

/**
 * Problem responses for the given statuses, served as application/problem+json.
 * The description, headers and examples (the general codes of each status) are for the API docs.
 */
export function problemResponses<const S extends number> (...statuses: S[]) {
  return Object.fromEntries(statuses.map((status) => [status, problemResponse(status)])) as Record<S, ProblemResponse>
}

/**
 * Problem responses documenting exactly these codes (grouped by their status), for
 * routes whose errors differ from the general ones, e.g.
 * `problemResponsesFor('INVALID_REQUEST', 'UPLOAD_NOT_FOUND')` declares 400 and 404.
 */
export function problemResponsesFor<const C extends ProblemCode> (...codes: C[]) {
  const statuses = [...new Set(codes.map((code) => PROBLEMS[code].status))]
  return Object.fromEntries(statuses.map((status) => [status, problemResponse(status, codes)])) as Record<(typeof PROBLEMS)[C]['status'], ProblemResponse>
}

/** The statuses any signing route can answer besides its success. */
export const SIGNING_ERRORS = [400, 401, 403, 413, 415, 503] as const
