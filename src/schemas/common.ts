import { Type, type Static } from 'typebox'
import { BUCKET_NAME_PATTERN, SIGV4_MAX_EXPIRES_SECONDS } from '../config/env-schema.js'
import { PROBLEMS } from '../http/problem.js'

/**
 * Building blocks shared by the /v1 route schemas. The custom formats
 * (`object-key`, `filename`) are registered with Fastify's Ajv in src/http/ajv.ts.
 */
export const ObjectKey = Type.String({
  format: 'object-key',
  minLength: 1,
  maxLength: 1024,
  description: 'Object key: 1 to 1024 UTF-8 bytes; no control characters, no leading "/", no empty, "." or ".." segments. Kept byte for byte (no Unicode normalization).',
  examples: ['users/alice/videos/intro.mp4']
})

export const BucketName = Type.String({
  pattern: BUCKET_NAME_PATTERN,
  description: 'Bucket; defaults to S3_BUCKET and must be one of S3_ALLOWED_BUCKETS.',
  examples: ['media']
})

export const ExpiresIn = Type.Integer({
  minimum: 1,
  maximum: SIGV4_MAX_EXPIRES_SECONDS,
  description: 'URL lifetime in seconds; defaults to SIGNED_URL_TTL_SECONDS and may not exceed SIGNED_URL_MAX_TTL_SECONDS.',
  examples: [300]
})

/** A media type with optional parameters, as it may appear in a Content-Type header. */
export const MediaType = Type.String({
  minLength: 3,
  maxLength: 255,
  pattern: '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(?: *; *[A-Za-z0-9!#$&^_.+-]+=(?:[A-Za-z0-9!#$&^_.+-]+|"[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]*"))*$',
  examples: ['video/mp4', 'text/plain; charset=utf-8']
})

export const SignedUrlFields = {
  url: Type.String({ description: 'The presigned URL. Treat it as a secret until it expires.' }),
  headers: Type.Record(Type.String(), Type.String(), {
    description: 'Headers the client must send exactly as given; they are part of the signature.'
  }),
  bucket: Type.String(),
  key: Type.String(),
  expiresIn: Type.Integer({ description: 'Lifetime in seconds.' }),
  expiresAt: Type.String({ format: 'date-time', description: 'When storage starts answering 403 (RFC 3339).' })
}

export const Problem = Type.Object({
  type: Type.String({ description: 'URN identifying the problem type.' }),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.String(),
  code: Type.Enum(Object.keys(PROBLEMS) as Array<keyof typeof PROBLEMS>)
}, { description: 'RFC 9457 problem details (application/problem+json).' })

export type ProblemSchema = Static<typeof Problem>
