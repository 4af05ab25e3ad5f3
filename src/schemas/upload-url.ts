import { Type } from 'typebox'
import { BucketName, ExpiresIn, MediaTypeFor, ObjectKey, SignedUrlFields } from './common.js'

/** S3's single-PUT limit. R2's is 5 GiB - 5 MiB; larger files go through multipart. */
export const MAX_SINGLE_PUT_BYTES = 5 * 1024 ** 3

export const UploadUrlRequest = Type.Object({
  key: ObjectKey,
  bucket: Type.Optional(BucketName),
  expiresIn: Type.Optional(ExpiresIn),
  contentType: MediaTypeFor('Content-Type of the object; signed, so the upload must send exactly this type. Must be allowed by the upload policy (403 CONTENT_TYPE_NOT_ALLOWED).'),
  contentLength: Type.Integer({ minimum: 0, maximum: MAX_SINGLE_PUT_BYTES, description: 'Exact size in bytes (required); signed, so storage rejects another size. At most the upload policy\'s limit (UPLOAD_MAX_BYTES, or the permission service\'s `limits.maxBytes`: 413 UPLOAD_TOO_LARGE above it) and 5 GiB (R2: 5 GiB - 5 MiB): larger files need a multipart upload.', examples: [1048576] }),
  contentMd5: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9+/]{22}==$', mustBe: 'a base64 MD5: 22 base64 characters followed by "=="', description: 'Base64 MD5 of the body (RFC 1864); signed, and storage rejects a body that does not match.', examples: ['1B2M2Y8AsgTpgAmY7PhCfg=='] })),
  writeOnce: Type.Optional(Type.Boolean({ description: 'Sign `if-none-match: *`: storage answers 412 instead of overwriting an existing object. Always on when the permission service\'s limits say write-once (a request cannot turn that off).' }))
}, {
  $id: 'UploadUrlRequest',
  additionalProperties: false,
  description: 'What to sign: one object, and the headers the upload will be bound to.',
  examples: [{ key: 'users/alice/videos/intro.mp4', contentType: 'video/mp4', contentLength: 1048576 }]
})

export const UploadUrlResponse = Type.Object({
  ...SignedUrlFields,
  method: Type.Literal('PUT', { description: 'Always PUT.' })
}, {
  $id: 'UploadUrlResponse',
  description: 'A presigned upload URL: PUT the body to `url` with exactly the `headers` given (all of them are signed; `if-none-match: *` when the upload is write-once).',
  examples: [{
    url: 'https://ACCOUNT_ID.r2.cloudflarestorage.com/media/users/alice/videos/intro.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=…&X-Amz-Date=20260101T120000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost&X-Amz-Signature=…',
    method: 'PUT',
    headers: { 'content-type': 'video/mp4', 'content-length': '1048576' },
    bucket: 'media',
    key: 'users/alice/videos/intro.mp4',
    expiresIn: 300,
    expiresAt: '2026-01-01T12:05:00.000Z'
  }]
})
