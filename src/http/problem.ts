/**
 * RFC 9457 problem details: every error r2-signer answers is one of these,
 * sent as `application/problem+json` with a stable machine-readable `code`.
 */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8'

/** Every error code the API can answer, with its status and title. */
export const PROBLEMS = {
  INVALID_REQUEST: { status: 400, title: 'Invalid request' },
  INVALID_KEY: { status: 400, title: 'Invalid object key' },
  INVALID_EXPIRES_IN: { status: 400, title: 'Invalid expiresIn' },
  INVALID_PART_SIZE: { status: 400, title: 'Invalid part size' },
  INVALID_PART: { status: 400, title: 'Invalid part' },
  PART_TOO_SMALL: { status: 400, title: 'Part too small' },
  UNAUTHORIZED: { status: 401, title: 'Unauthorized' },
  PERMISSION_DENIED: { status: 403, title: 'Permission denied' },
  BUCKET_NOT_ALLOWED: { status: 403, title: 'Bucket not allowed' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  UPLOAD_NOT_FOUND: { status: 404, title: 'Multipart upload not found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  INTERNAL_ERROR: { status: 500, title: 'Internal server error' },
  STORAGE_ERROR: { status: 502, title: 'Storage error' },
  PERMISSION_SERVICE_UNAVAILABLE: { status: 503, title: 'Permission service unavailable' },
  TOKEN_KEYS_UNAVAILABLE: { status: 503, title: 'Token signing keys unavailable' },
  STORAGE_UNAVAILABLE: { status: 503, title: 'Storage unavailable' },
  STORAGE_UNSAFE: { status: 503, title: 'Storage not verified safe for uploads' }
} as const satisfies Record<string, { status: number, title: string }>

export type ProblemCode = keyof typeof PROBLEMS

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
 * problem+json answer. `headers` carries e.g. WWW-Authenticate or Retry-After.
 */
export class HttpProblem extends Error {
  readonly code: ProblemCode
  readonly statusCode: number
  readonly headers: Record<string, string>

  constructor (code: ProblemCode, detail: string, headers: Record<string, string> = {}) {
    super(detail)
    this.name = 'HttpProblem'
    this.code = code
    this.statusCode = PROBLEMS[code].status
    this.headers = headers
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
