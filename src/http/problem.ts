import { PROBLEMS, type ProblemCode } from './problem-catalogue.js'

/**
 * RFC 9457 problem details: every error r2-signer answers is one of these,
 * sent as `application/problem+json` with a stable machine-readable `code`
 * from the catalogue (./problem-catalogue.ts).
 */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8'

export interface ProblemBody {
  type: string
  title: string
  status: number
  detail: string
  code: ProblemCode
}

/** A URN per code: stable, dereferencing is not needed to tell problems apart. */
export function problemType (code: ProblemCode): string {
  return `urn:r2-signer:problem:${code.toLowerCase().replaceAll('_', '-')}`
}

/**
 * Thrown anywhere in request handling; the error handler turns it into the
 * problem+json answer. Without `detail`, the catalogue's documented detail is sent;
 * `headers` (e.g. WWW-Authenticate) add to or override the catalogue's (e.g. Retry-After).
 */
export class HttpProblem extends Error {
  readonly code: ProblemCode
  readonly statusCode: number
  readonly headers: Record<string, string>

  constructor (code: ProblemCode, detail?: string, headers: Record<string, string> = {}) {
    const entry: { detail: string, headers?: Record<string, string> } = PROBLEMS[code]
    super(detail ?? entry.detail)
    this.name = 'HttpProblem'
    this.code = code
    this.statusCode = PROBLEMS[code].status
    this.headers = { ...entry.headers, ...headers }
  }

  toBody (): ProblemBody {
    return {
      type: problemType(this.code),
      title: PROBLEMS[this.code].title,
      status: this.statusCode,
      detail: this.message,
      code: this.code
    }
  }
}
