import { Type } from 'typebox'
import { BucketName, ExpiresIn, MediaTypeFor, ObjectKey, SignedUrlFields } from './common.js'

export const DownloadUrlRequest = Type.Object({
  key: ObjectKey,
  bucket: Type.Optional(BucketName),
  expiresIn: Type.Optional(ExpiresIn),
  method: Type.Optional(Type.Enum(['GET', 'HEAD'], { default: 'GET', description: 'GET for downloads and streaming (Range works), HEAD for metadata.' })),
  disposition: Type.Optional(Type.Enum(['inline', 'attachment'], { description: 'Overrides Content-Disposition of the response; defaults to attachment when filename is given. With a `contentType` override outside the inline list (DOWNLOAD_INLINE_CONTENT_TYPES; by default images except SVG, audio, video, PDF, plain text) the response is always `attachment`.' })),
  filename: Type.Optional(Type.String({
    format: 'filename',
    mustBe: 'a file name: well-formed Unicode without control characters, "/" or "\\"',
    minLength: 1,
    maxLength: 255,
    description: 'File name for Content-Disposition (non-ASCII names are sent as RFC 8187 filename*). Format `filename`: well-formed Unicode without control characters, "/" or "\\".',
    examples: ['intro.mp4', 'Übersicht 2026.pdf']
  })),
  contentType: Type.Optional(MediaTypeFor('Overrides Content-Type of the response (storage otherwise sends the type stored with the object).'))
}, {
  $id: 'DownloadUrlRequest',
  additionalProperties: false,
  description: 'What to sign: one object, and how storage should serve it.',
  examples: [{ key: 'users/alice/videos/intro.mp4' }, { key: 'users/alice/report.pdf', expiresIn: 120, disposition: 'attachment', filename: 'Report 2026.pdf' }]
})

export const DownloadUrlResponse = Type.Object({
  ...SignedUrlFields,
  method: Type.Enum(['GET', 'HEAD'], { description: 'The method the URL is signed for.' })
}, {
  $id: 'DownloadUrlResponse',
  description: 'A presigned download URL. `headers` is always empty for downloads; a `Range` header may be added freely.',
  examples: [{
    url: 'https://ACCOUNT_ID.r2.cloudflarestorage.com/media/users/alice/videos/intro.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=…&X-Amz-Date=20260101T120000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=…',
    method: 'GET',
    headers: {},
    bucket: 'media',
    key: 'users/alice/videos/intro.mp4',
    expiresIn: 300,
    expiresAt: '2026-01-01T12:05:00.000Z'
  }]
})
