import { Type, type Static } from 'typebox'
import { BucketName, ExpiresIn, MediaType, ObjectKey, SignedUrlFields } from './common.js'

/** S3's single-PUT limit. R2's is 5 GiB - 5 MiB; larger files go through multipart. */
export const MAX_SINGLE_PUT_BYTES = 5 * 1024 ** 3

export const UploadUrlRequest = Type.Object({
  key: ObjectKey,
  bucket: Type.Optional(BucketName),
  expiresIn: Type.Optional(ExpiresIn),
  contentType: MediaType,
  contentLength: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SINGLE_PUT_BYTES, description: 'Exact size in bytes; signed, so storage rejects another size.' })),
  contentMd5: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9+/]{22}==$', description: 'Base64 MD5 of the body (RFC 1864); signed, and storage rejects a body that does not match.' }))
}, { additionalProperties: false })

export const UploadUrlResponse = Type.Object({
  ...SignedUrlFields,
  method: Type.Literal('PUT')
})

export type UploadUrlRequestBody = Static<typeof UploadUrlRequest>
