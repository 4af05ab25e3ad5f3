import { OBJECT_KEY_RULES } from '../signing/object-key.js'
import { HttpProblem, PROBLEMS, type ProblemCode } from '../http/problem.js'

/**
 * What the API documentation says about each problem code: when it happens, and
 * a typical `detail` for the examples (built with HttpProblem, so the examples
 * have exactly the shape the error handler sends). A code missing here is
 * documented by its title.
 */
const PROBLEM_DOCS: Partial<Record<ProblemCode, { when: string, detail: string }>> = {
  INVALID_REQUEST: { when: 'the body is not valid JSON or does not match the schema (unknown fields included)', detail: 'body must have required property \'key\'.' },
  INVALID_KEY: { when: 'the key breaks the object key rules', detail: `Invalid key: ${OBJECT_KEY_RULES}.` },
  INVALID_EXPIRES_IN: { when: '`expiresIn` is outside 1..SIGNED_URL_MAX_TTL_SECONDS', detail: 'expiresIn must be at most 3600 seconds.' },
  UNAUTHORIZED: { when: 'the token is missing, malformed, expired, or has a wrong signature, algorithm, issuer or audience; or the permission service answered 401', detail: 'The token has expired.' },
  PERMISSION_DENIED: { when: 'the permission service did not allow the action', detail: 'Not allowed to read this object.' },
  BUCKET_NOT_ALLOWED: { when: 'the bucket is not one of S3_ALLOWED_BUCKETS', detail: 'This bucket is not served by r2-signer.' },
  NOT_FOUND: { when: 'no such route', detail: 'No route for GET /v1/nothing.' },
  METHOD_NOT_ALLOWED: { when: 'the method is not allowed on this route', detail: 'Method not allowed.' },
  PAYLOAD_TOO_LARGE: { when: 'the body is larger than 64 KiB', detail: 'The request body is larger than allowed.' },
  UNSUPPORTED_MEDIA_TYPE: { when: 'the body is not `application/json`', detail: 'Send the request body as application/json.' },
  INTERNAL_ERROR: { when: 'an unexpected error (details are logged, never sent)', detail: 'An unexpected error occurred.' },
  PERMISSION_SERVICE_UNAVAILABLE: { when: 'the permission service was unreachable, too slow, or gave no clear answer (r2-signer fails closed)', detail: 'The permission service could not be asked; try again shortly.' },
  TOKEN_KEYS_UNAVAILABLE: { when: 'the JWKS could not be fetched', detail: 'The token signing keys could not be fetched.' },
  INVALID_PART_SIZE: { when: 'the part size cannot work for the file (over 10,000 parts)', detail: 'A partSize of 5242880 bytes needs more than 10000 parts for 104857600000 bytes; use at least 10485760 bytes.' },
  INVALID_PART: { when: 'storage holds no such part with that ETag (or, on R2, the parts other than the last differ in size)', detail: 'Storage does not hold one of the listed parts with that ETag, or (on R2) the parts other than the last differ in size. List the parts to see what storage holds.' },
  PART_TOO_SMALL: { when: 'a part other than the last is under 5 MiB', detail: 'Every part but the last must be at least 5242880 bytes (5 MiB).' },
  UPLOAD_NOT_FOUND: { when: 'the upload was completed or aborted, expired, never existed, or belongs to another key', detail: 'No multipart upload with this uploadId exists for this bucket and key: it was completed or aborted, expired, or never existed.' },
  STORAGE_ERROR: { when: 'storage refused r2-signer\'s credentials, the bucket does not exist there, or storage answered nonsense (a configuration problem; logged)', detail: 'Storage refused r2-signer\'s credentials; the service is misconfigured.' },
  STORAGE_UNAVAILABLE: { when: 'storage was unreachable, did not answer within S3_TIMEOUT_MS, or answered 5xx/429 (after one retry)', detail: 'Storage could not be reached or did not answer in time; try again shortly.' },
  STORAGE_UNSAFE: { when: 'the storage self-test found that storage does not enforce what upload URLs sign (it honours unsigned `x-amz-*` headers), or has not confirmed yet that it does (writes only; reads keep working; STORAGE_UNSAFE_HEADERS=refuse)', detail: 'Uploads are refused: storage does not enforce what upload URLs sign (it accepts x-amz-* headers they did not sign), so an upload URL could be used to copy or expose other objects. The operator must fix storage: see docs/storage-safety.md.' }
}

/**
 * The codes any /v1 signing route may answer; a route's other codes are named with
 * problemResponsesFor() (src/routes/v1/shared.ts).
 */
const GENERAL_CODES: ReadonlySet<ProblemCode> = new Set<ProblemCode>([
  'INVALID_REQUEST', 'INVALID_KEY', 'INVALID_EXPIRES_IN', 'UNAUTHORIZED', 'PERMISSION_DENIED', 'BUCKET_NOT_ALLOWED',
  'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'INTERNAL_ERROR', 'PERMISSION_SERVICE_UNAVAILABLE', 'TOKEN_KEYS_UNAVAILABLE'
])

/** Response headers worth documenting per status (@fastify/swagger takes each as the header's schema). */
const PROBLEM_HEADERS: Record<number, Record<string, { type: string, description: string }>> = {
  401: {
    'WWW-Authenticate': {
      type: 'string',
      description: 'RFC 6750 challenge, e.g. `Bearer realm="r2-signer", error="invalid_token"` (without `error` when the request carried no token).'
    }
  },
  503: {
    'Retry-After': { type: 'integer', description: 'Seconds to wait before retrying.' }
  }
}

const HTTP_REASONS: Record<number, string> = {
  400: 'Bad request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not found',
  405: 'Method not allowed',
  413: 'Payload too large',
  415: 'Unsupported media type',
  500: 'Internal server error',
  502: 'Bad gateway',
  503: 'Service unavailable'
}

export interface ProblemResponseDocs {
  description: string
  headers?: Record<string, { type: string, description: string }>
  examples: Record<string, { summary: string, value: ReturnType<HttpProblem['toBody']> }>
}

/**
 * The description, headers and examples of a problem response with this status:
 * for the given codes (those of this status), by default the general ones of this
 * status, or when there are none, every code of this status.
 */
export function problemResponseDocs (status: number, only?: readonly ProblemCode[]): ProblemResponseDocs {
  const ofStatus = (Object.keys(PROBLEMS) as ProblemCode[]).filter((code) => PROBLEMS[code].status === status)
  const general = ofStatus.filter((code) => GENERAL_CODES.has(code))
  const codes = only !== undefined ? ofStatus.filter((code) => only.includes(code)) : general.length > 0 ? general : ofStatus
  const reason = HTTP_REASONS[status] ?? 'Problem'
  const description = codes.length === 0
    ? `${reason} (problem details).`
    : `${reason}: ` + codes.map((code) => `\`${code}\` ${whenText(code)}`).join('; ') + '.'
  const examples = Object.fromEntries(codes.map((code) => [code, {
    summary: PROBLEMS[code].title,
    value: new HttpProblem(code, PROBLEM_DOCS[code]?.detail ?? `${PROBLEMS[code].title}.`).toBody()
  }]))
  const headers = PROBLEM_HEADERS[status]
  return { description, ...(headers !== undefined && { headers }), examples }
}

function whenText (code: ProblemCode): string {
  const docs = PROBLEM_DOCS[code]
  return docs === undefined ? `(${PROBLEMS[code].title.toLowerCase()})` : `when ${docs.when}`
}
