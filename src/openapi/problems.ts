import { Problem } from '../schemas/common.js'
import { HttpProblem, type ProblemBody } from '../http/problem.js'
import { PROBLEM_CODES, PROBLEM_STATUSES, PROBLEMS, type ProblemCode } from '../http/problem-catalogue.js'

/**
 * The problem responses of the OpenAPI document, built from the error catalogue
 * (src/http/problem-catalogue.ts): each route names the codes it can answer.
 */
export interface ProblemResponse {
  description: string
  headers?: Record<string, { type: string, description: string }>
  content: { 'application/problem+json': { schema: typeof Problem, examples: Record<string, { summary: string, value: ProblemBody }> } }
}

/**
 * Problem responses documenting exactly these codes, grouped by their status, e.g.
 * `problemResponsesFor([...COMMON_CODES, 'UPLOAD_NOT_FOUND'])` declares 400, 401, 403, 404 and 503.
 */
export function problemResponsesFor<const C extends ProblemCode> (codes: readonly C[]) {
  const statuses = [...new Set(codes.map((code) => PROBLEMS[code].status))]
  return Object.fromEntries(statuses.map((status) => [status, problemResponse(status, codes)])) as Record<(typeof PROBLEMS)[C]['status'], ProblemResponse>
}

/**
 * The description, headers and examples of a problem response with this status: the
 * given codes of this status, each with its "when" text and an example built with
 * HttpProblem (so the examples have exactly the shape the error handler sends).
 */
function problemResponse (status: number, only: readonly ProblemCode[]): ProblemResponse {
  const codes = PROBLEM_CODES.filter((code) => PROBLEMS[code].status === status && only.includes(code))
  const { reason, headers } = PROBLEM_STATUSES[status] ?? { reason: 'Problem' }
  const description = `${reason}: ` + codes.map((code) => `\`${code}\` when ${PROBLEMS[code].when}`).join('; ') + '.'
  const examples = Object.fromEntries(codes.map((code) => [code, { summary: PROBLEMS[code].title, value: new HttpProblem(code).toBody() }]))
  return {
    description,
    ...(headers !== undefined && { headers }),
    content: { 'application/problem+json': { schema: Problem, examples } }
  }
}
