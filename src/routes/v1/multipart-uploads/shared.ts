import type { FastifyInstance } from 'fastify'
import type { ProblemCode } from '../../../http/problem.js'

export const tags = ['multipart uploads']

/** What every /v1 route can answer: bad input, no or bad token, no permission, the permission service or JWKS down. */
const COMMON = [
  'INVALID_REQUEST', 'INVALID_KEY', 'UNAUTHORIZED', 'PERMISSION_DENIED', 'BUCKET_NOT_ALLOWED',
  'PERMISSION_SERVICE_UNAVAILABLE', 'TOKEN_KEYS_UNAVAILABLE'
] as const satisfies readonly ProblemCode[]

/** Routes with a JSON body. */
const BODY = ['PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'] as const satisfies readonly ProblemCode[]

/** Routes that call storage. */
const STORAGE = ['STORAGE_ERROR', 'STORAGE_UNAVAILABLE'] as const satisfies readonly ProblemCode[]

/** The problem codes of each multipart route, for problemResponsesFor(). */
export const ERRORS = {
  create: [...COMMON, ...BODY, ...STORAGE, 'INVALID_PART_SIZE'],
  // Signing makes no storage call: no 404, no storage errors.
  partUrls: [...COMMON, ...BODY, 'INVALID_EXPIRES_IN'],
  listParts: [...COMMON, ...STORAGE, 'UPLOAD_NOT_FOUND'],
  complete: [...COMMON, ...BODY, ...STORAGE, 'UPLOAD_NOT_FOUND', 'INVALID_PART', 'PART_TOO_SMALL'],
  abort: [...COMMON, ...STORAGE, 'UPLOAD_NOT_FOUND']
} as const

/** Multipart routes need the storage client; fail at startup, not on the first request, if it is missing. */
export function assertMultipart (app: FastifyInstance): void {
  if (!app.hasDecorator('multipart')) throw new Error('multipart routes need the multipart plugin (src/storage/plugin.ts) registered first')
}
