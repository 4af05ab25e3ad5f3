import { maxHeaderSize } from 'node:http'
import { OBJECT_KEY_RULES } from '../schemas/object-key.js'
import { MIN_PART_SIZE } from '../storage/part-size.js'

/**
 * THE error catalogue: every problem code r2-signer can answer, in one place (cf. fastify's
 * lib/errors.js, supabase/storage's codes.ts). HttpProblem (the thrower), the error handler and
 * the OpenAPI builder (src/openapi/problems.ts) all read it.
 *
 * Adding a code: one entry here (the Problem schema's code list follows), then name it in the
 * `problemResponsesFor([...])` of every route that can answer it, so the OpenAPI document says so.
 *
 * Each entry:
 * - `status`, `title`: sent in every answer with this code;
 * - `when`: when it happens (the API documentation's text, "`CODE` when …");
 * - `detail`: the documented detail, used for the examples and sent whenever the thrower gives
 *   none (`new HttpProblem('UPLOAD_NOT_FOUND')`); `fixed: true` when it is the only detail ever sent;
 * - `headers`: sent with every answer of this code unless the thrower overrides them.
 */
export interface ProblemEntry {
  status: number
  title: string
  when: string
  detail: string
  fixed?: true
  headers?: Record<string, string>
}

/** Seconds a caller should wait before retrying after a dependency (permission service, storage) failed. */
const RETRY_AFTER_SECONDS = '2'

/** Node's HTTP parser refuses larger request headers (`--max-http-header-size`; 16 KiB by default) before Fastify sees them. */
const HEADER_LIMIT = maxHeaderSize % 1024 === 0 ? `${maxHeaderSize / 1024} KiB` : `${maxHeaderSize} bytes`

export const PROBLEMS = {
  INVALID_REQUEST: {
    status: 400,
    title: 'Invalid request',
    when: 'the body is not valid JSON, has a `__proto__` or `constructor.prototype` key, or does not match the schema (unknown fields included)',
    detail: 'body is missing the required property "key".'
  },
  INVALID_KEY: {
    status: 400,
    title: 'Invalid object key',
    when: 'the key breaks the object key rules (the detail says which)',
    detail: `body.key starts with "/": ${OBJECT_KEY_RULES}.`
  },
  INVALID_EXPIRES_IN: {
    status: 400,
    title: 'Invalid expiresIn',
    when: '`expiresIn` is outside 1..SIGNED_URL_MAX_TTL_SECONDS',
    detail: 'body.expiresIn must be at most 3600 seconds (SIGNED_URL_MAX_TTL_SECONDS).'
  },
  INVALID_PART_SIZE: {
    status: 400,
    title: 'Invalid part size',
    when: 'the part size cannot work for the file (over 10,000 parts)',
    detail: 'A partSize of 5242880 bytes needs more than 10000 parts for 104857600000 bytes; use at least 10485760 bytes.'
  },
  INVALID_PART: {
    status: 400,
    title: 'Invalid part',
    when: 'storage holds no such part with that ETag (or, on R2, the parts other than the last differ in size)',
    detail: 'Storage does not hold one of the listed parts with that ETag, or (on R2) the parts other than the last differ in size. List the parts to see what storage holds.'
  },
  PART_TOO_SMALL: {
    status: 400,
    title: 'Part too small',
    when: 'a part other than the last is under 5 MiB',
    detail: `Every part but the last must be at least ${MIN_PART_SIZE} bytes (5 MiB).`,
    fixed: true
  },
  INVALID_UPLOAD_TOKEN: {
    status: 400,
    title: 'Invalid upload token',
    when: 'the `uploadToken` is missing, altered, expired, or belongs to another upload, bucket or key',
    detail: 'The uploadToken does not belong to this upload, bucket and key (or was altered, or has expired): use the uploadToken answered when the upload was created.'
  },
  UPLOAD_INCOMPLETE: {
    status: 400,
    title: 'Upload incomplete',
    when: 'storage does not hold exactly parts 1..partCount with their planned sizes and the ETags given (the upload is left as it is: upload what is missing, then complete again)',
    detail: 'The upload is not complete: part 3 is missing; part 4 holds 1024 bytes instead of 8388608. Upload those parts, then complete again.'
  },
  UNAUTHORIZED: {
    status: 401,
    title: 'Unauthorized',
    when: 'the token is missing, malformed, expired, or has a wrong signature, algorithm, issuer or audience; or the permission service answered 401',
    detail: 'The token has expired.'
  },
  PERMISSION_DENIED: {
    status: 403,
    title: 'Permission denied',
    when: 'the permission service did not allow the action',
    detail: 'Not allowed to read this object.'
  },
  BUCKET_NOT_ALLOWED: {
    status: 403,
    title: 'Bucket not allowed',
    when: 'the bucket is not one of S3_ALLOWED_BUCKETS',
    detail: 'This bucket is not served by r2-signer.',
    fixed: true
  },
  REVOKED: {
    status: 403,
    title: 'Revoked',
    when: 'an operator revoked URLs for this subject, or for keys under this prefix (POST /admin/v1/revocations)',
    detail: 'URLs for this subject have been revoked.'
  },
  CONTENT_TYPE_NOT_ALLOWED: {
    status: 403,
    title: 'Content type not allowed',
    when: 'the content type is outside the upload policy (UPLOAD_CONTENT_TYPES, or the permission service\'s `limits.contentTypes`)',
    detail: 'Content type "text/html" is not allowed here; allowed: image/*, video/*, application/pdf.'
  },
  NOT_FOUND: {
    status: 404,
    title: 'Not found',
    when: 'no such route',
    detail: 'No route for GET /v1/nothing.'
  },
  UPLOAD_NOT_FOUND: {
    status: 404,
    title: 'Multipart upload not found',
    when: 'the upload was completed or aborted, expired, never existed, or belongs to another key',
    detail: 'No multipart upload with this uploadId exists for this bucket and key: it was completed or aborted, expired, or never existed.',
    fixed: true
  },
  REVOCATION_NOT_FOUND: {
    status: 404,
    title: 'Revocation not found',
    when: 'no revocation in force has this id (never made, already lifted, or expired)',
    detail: 'No revocation in force has this id: it was never made, was lifted, or expired.',
    fixed: true
  },
  METHOD_NOT_ALLOWED: {
    status: 405,
    title: 'Method not allowed',
    when: 'the path exists but not with this method (the Allow header lists the methods it has)',
    detail: 'GET is not allowed on /v1/download-urls; use POST.'
  },
  OBJECT_EXISTS: {
    status: 412,
    title: 'Object exists',
    when: 'the upload is write-once and an object already has this key (checked when a multipart upload is created and again when it is completed)',
    detail: 'An object with this key already exists and the upload is write-once.',
    fixed: true
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    title: 'Payload too large',
    when: 'the body is larger than 64 KiB',
    detail: 'The request body is larger than allowed.',
    fixed: true
  },
  UPLOAD_TOO_LARGE: {
    status: 413,
    title: 'Upload too large',
    when: 'the upload\'s size is above the upload policy\'s limit (UPLOAD_MAX_BYTES, or the permission service\'s `limits.maxBytes`)',
    detail: 'The upload is 10485760 bytes; at most 2097152 bytes are allowed here.'
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    title: 'Unsupported media type',
    when: 'the body is not `application/json`',
    detail: 'Send the request body as application/json.',
    fixed: true
  },
  RATE_LIMITED: {
    status: 429,
    title: 'Too many requests',
    when: 'the subject asked for more than RATE_LIMIT_URLS_PER_MINUTE URLs this minute (part URLs count one each), or its address failed authentication more than RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE times; the limits hold across every instance sharing a Redis',
    detail: 'Too many URLs this minute: at most 600 per minute; retry after the Retry-After seconds.'
  },
  REQUEST_HEADER_FIELDS_TOO_LARGE: {
    status: 431,
    title: 'Request header fields too large',
    when: `the request headers are larger than the server accepts (Node's limit, ${HEADER_LIMIT} in all; e.g. an oversized Authorization token); the connection is closed`,
    detail: `The request headers are larger than ${HEADER_LIMIT} in all; send a smaller token or fewer headers.`,
    fixed: true
  },
  INTERNAL_ERROR: {
    status: 500,
    title: 'Internal server error',
    when: 'an unexpected error (details are logged, never sent)',
    detail: 'An unexpected error occurred.',
    fixed: true
  },
  STORAGE_ERROR: {
    status: 502,
    title: 'Storage error',
    when: 'storage refused r2-signer\'s credentials, the bucket does not exist there, or storage answered nonsense (a configuration problem; logged)',
    detail: 'Storage refused r2-signer\'s credentials; the service is misconfigured.'
  },
  PERMISSION_SERVICE_UNAVAILABLE: {
    status: 503,
    title: 'Permission service unavailable',
    when: 'the permission service was unreachable, too slow, or gave no clear answer (r2-signer fails closed)',
    detail: 'The permission service could not be asked; try again shortly.',
    fixed: true,
    headers: { 'retry-after': RETRY_AFTER_SECONDS }
  },
  TOKEN_KEYS_UNAVAILABLE: {
    status: 503,
    title: 'Token signing keys unavailable',
    when: 'the JWKS could not be fetched',
    detail: 'The token signing keys could not be fetched.',
    fixed: true,
    headers: { 'retry-after': '5' }
  },
  REVOCATION_UNAVAILABLE: {
    status: 503,
    title: 'Revocations unavailable',
    when: 'the revocations could not be confirmed current because Redis is unreachable (r2-signer fails closed unless REVOCATION_FAIL_OPEN=true); on the admin API, the change could not be stored',
    detail: 'Whether URLs are revoked cannot be confirmed right now (shared state unavailable); try again shortly.',
    headers: { 'retry-after': RETRY_AFTER_SECONDS }
  },
  STORAGE_UNAVAILABLE: {
    status: 503,
    title: 'Storage unavailable',
    when: 'storage was unreachable, did not answer within S3_TIMEOUT_MS, or answered 5xx/429 (after one retry)',
    detail: 'Storage could not be reached or did not answer in time; try again shortly.',
    fixed: true,
    headers: { 'retry-after': RETRY_AFTER_SECONDS }
  },
  STORAGE_UNSAFE: {
    status: 503,
    title: 'Storage not verified safe for uploads',
    when: 'the storage self-test found that storage does not enforce what upload URLs sign (it honours unsigned `x-amz-*` headers), or has not confirmed yet that it does (writes only; reads keep working; STORAGE_UNSAFE_HEADERS=refuse)',
    detail: 'Uploads are refused: storage does not enforce what upload URLs sign (it accepts x-amz-* headers they did not sign), so an upload URL could be used to copy or expose other objects. The operator must fix storage: see docs/storage-safety.md.'
  }
} as const satisfies Record<string, ProblemEntry>

export type ProblemCode = keyof typeof PROBLEMS

export const PROBLEM_CODES = Object.keys(PROBLEMS) as ProblemCode[]

/** The entry of a code, as the general shape (optional fields readable). */
export function problemEntry (code: ProblemCode): ProblemEntry {
  return PROBLEMS[code]
}

// Named groups, so each route names its codes in one line:
// `problemResponsesFor([...COMMON_CODES, ...BODY_CODES, 'INVALID_EXPIRES_IN'])` (src/openapi/problems.ts).

/**
 * What every /v1 object route can answer: bad input, no or bad token (and too many of those from one
 * address), no permission or a revocation, the permission service, the JWKS or the revocations unavailable.
 */
export const COMMON_CODES = [
  'INVALID_REQUEST', 'INVALID_KEY', 'UNAUTHORIZED', 'PERMISSION_DENIED', 'BUCKET_NOT_ALLOWED', 'REVOKED', 'RATE_LIMITED',
  'PERMISSION_SERVICE_UNAVAILABLE', 'TOKEN_KEYS_UNAVAILABLE', 'REVOCATION_UNAVAILABLE'
] as const satisfies readonly ProblemCode[]

/** Routes with a JSON body. */
export const BODY_CODES = ['PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'] as const satisfies readonly ProblemCode[]

/** Routes that call storage. */
export const STORAGE_CODES = ['STORAGE_ERROR', 'STORAGE_UNAVAILABLE'] as const satisfies readonly ProblemCode[]

/** Routes that start an upload: the upload policy (src/uploads/policy.ts). */
export const UPLOAD_POLICY_CODES = ['UPLOAD_TOO_LARGE', 'CONTENT_TYPE_NOT_ALLOWED'] as const satisfies readonly ProblemCode[]

/** Routes that issue write URLs: refused while storage is not verified safe (src/storage/safety-plugin.ts). */
export const WRITE_CODES = ['STORAGE_UNSAFE'] as const satisfies readonly ProblemCode[]

/** The HTTP reason of each status a problem can have, and the response headers worth documenting for it. */
export const PROBLEM_STATUSES: Record<number, { reason: string, headers?: Record<string, { type: string, description: string }> }> = {
  400: { reason: 'Bad request' },
  401: {
    reason: 'Unauthorized',
    headers: {
      'WWW-Authenticate': {
        type: 'string',
        description: 'RFC 6750 challenge, e.g. `Bearer realm="r2-signer", error="invalid_token"` (without `error` when the request carried no token).'
      }
    }
  },
  403: { reason: 'Forbidden' },
  404: { reason: 'Not found' },
  405: { reason: 'Method not allowed' },
  413: { reason: 'Payload too large' },
  412: { reason: 'Precondition failed' },
  415: { reason: 'Unsupported media type' },
  429: {
    reason: 'Too many requests',
    headers: {
      'Retry-After': { type: 'integer', description: 'Seconds until the current rate-limit window ends.' },
      'RateLimit-Limit': { type: 'integer', description: 'Units allowed per window (URLs, or failed authentications for an address).' },
      'RateLimit-Remaining': { type: 'integer', description: 'Units left in the current window.' },
      'RateLimit-Reset': { type: 'integer', description: 'Seconds until the current window ends.' }
    }
  },
  431: { reason: 'Request header fields too large' },
  500: { reason: 'Internal server error' },
  502: { reason: 'Bad gateway' },
  503: {
    reason: 'Service unavailable',
    headers: { 'Retry-After': { type: 'integer', description: 'Seconds to wait before retrying.' } }
  }
}
