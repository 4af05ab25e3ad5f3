import { Type, type Static } from 'typebox'
import { BucketName, ExpiresIn, MediaType, ObjectKey, SignedUrlFields } from './common.js'

export const DownloadUrlRequest = Type.Object({
  key: ObjectKey,
  bucket: Type.Optional(BucketName),
  expiresIn: Type.Optional(ExpiresIn),
  method: Type.Optional(Type.Enum(['GET', 'HEAD'], { default: 'GET', description: 'GET for downloads and streaming (Range works), HEAD for metadata.' })),
  disposition: Type.Optional(Type.Enum(['inline', 'attachment'], { description: 'Overrides Content-Disposition of the response; defaults to attachment when filename is given.' })),
  filename: Type.Optional(Type.String({ format: 'filename', minLength: 1, maxLength: 255, description: 'File name for Content-Disposition (non-ASCII names are sent as RFC 8187 filename*).' })),
  contentType: Type.Optional(MediaType)
}, { additionalProperties: false })

export const DownloadUrlResponse = Type.Object({
  ...SignedUrlFields,
  method: Type.Enum(['GET', 'HEAD'])
})

export type DownloadUrlRequestBody = Static<typeof DownloadUrlRequest>
