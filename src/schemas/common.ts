import { Type } from 'typebox'
import { BUCKET_NAME_PATTERN } from '../config/env-schema.js'
import { MAX_EXPIRES_SECONDS } from '../signing/sigv4.js'
import { PROBLEM_CODES } from '../http/problem-catalogue.js'

/**
 * Building blocks shared by the /v1 route schemas. The custom formats
 * (`object-key`, `filename`) and the `errorCode` annotation (the problem code a
 * failing value answers) are registered with Fastify's Ajv in src/http/ajv.ts.
 */
export const ObjectKey = Type.String({
  format: 'object-key',
  minLength: 1,
  maxLength: 1024,
  description: 'Object key: 1 to 1024 UTF-8 bytes; no control characters, no leading "/", no empty, "." or ".." segments. Kept byte for byte (no Unicode normalization).',
  examples: ['users/alice/videos/intro.mp4'],
  errorCode: 'INVALID_KEY'
})

export const BucketName = Type.String({
  pattern: BUCKET_NAME_PATTERN,
  mustBe: 'a bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit',
  description: 'Bucket; defaults to S3_BUCKET and must be one of S3_ALLOWED_BUCKETS.',
  examples: ['media']
})

export const ExpiresIn = Type.Integer({
  minimum: 1,
  maximum: MAX_EXPIRES_SECONDS,
  description: 'URL lifetime in seconds; defaults to SIGNED_URL_TTL_SECONDS and may not exceed SIGNED_URL_MAX_TTL_SECONDS.',
  examples: [300],
  errorCode: 'INVALID_EXPIRES_IN'
})

const MEDIA_TYPE = {
  minLength: 3,
  maxLength: 255,
  pattern: '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(?: *; *[A-Za-z0-9!#$&^_.+-]+=(?:[A-Za-z0-9!#$&^_.+-]+|"[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]*"))*$',
  examples: ['video/mp4', 'text/plain; charset=utf-8'],
  mustBe: 'a media type such as "video/mp4" or "text/plain; charset=utf-8"'
}

/** A media type with optional parameters, as it may appear in a Content-Type header. */
export const MediaType = Type.String(MEDIA_TYPE)

/** MediaType with a description of what it means where it is used (the API docs show it). */
export const MediaTypeFor = (description: string) => Type.String({ ...MEDIA_TYPE, description })

export const SignedUrlFields = {
  url: Type.String({ description: 'The presigned URL. Treat it as a secret until it expires.' }),
  headers: Type.Record(Type.String(), Type.String(), {
    description: 'Headers the client must send exactly as given; they are part of the signature.',
    examples: [{ 'content-type': 'video/mp4', 'content-length': '1048576' }]
  }),
  bucket: Type.String({ description: 'The bucket the URL is for.', examples: ['media'] }),
  key: Type.String({ description: 'The object key the URL is for, as requested.', examples: ['users/alice/videos/intro.mp4'] }),
  expiresIn: Type.Integer({ description: 'Lifetime in seconds.', examples: [300] }),
  expiresAt: Type.String({ format: 'date-time', description: 'When storage starts answering 403 (RFC 3339).', examples: ['2026-01-01T12:05:00.000Z'] })
}

export const Problem = Type.Object({
  type: Type.String({ description: 'URN identifying the problem type (`urn:r2-signer:problem:<code in kebab case>`).', examples: ['urn:r2-signer:problem:permission-denied'] }),
  title: Type.String({ description: 'Short summary of the problem type; the same for every occurrence of a code.', examples: ['Permission denied'] }),
  status: Type.Integer({ description: 'The HTTP status code, repeated.', examples: [403] }),
  detail: Type.String({ description: 'What went wrong with this request, for humans. Never contains the token or a signed URL.', examples: ['Not allowed to read this object.'] }),
  code: Type.Enum(PROBLEM_CODES, { description: 'Stable machine-readable error code: branch on this.' })
}, { $id: 'Problem', description: 'RFC 9457 problem details (application/problem+json).' })
