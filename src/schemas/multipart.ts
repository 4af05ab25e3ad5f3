import { Type } from 'typebox'
import { BucketName, ExpiresIn, MediaTypeFor, ObjectKey } from './common.js'
import { MAX_OBJECT_SIZE, MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE } from '../storage/part-size.js'
import { UPLOAD_TOKEN_MAX_LENGTH, UPLOAD_TOKEN_PATTERN } from '../uploads/upload-token.js'

/**
 * Upload IDs are opaque to clients and differ per store: Ceph RGW `2~eTVBiQEB…`, AWS long
 * base64url-ish strings, R2 several hundred characters of standard base64 (`+`, `/`, `=`).
 * Accepted: those characters plus `.`, `_`, `~`, `-`, up to 1024 of them.
 * A `/` must be sent percent-encoded (%2F) where the ID is a path segment.
 */
export const UPLOAD_ID_MAX_LENGTH = 1024
export const UPLOAD_ID_PATTERN = `^[A-Za-z0-9._~+/=-]{1,${UPLOAD_ID_MAX_LENGTH}}$`

/**
 * A part's entity tag as storage sent it: RFC 9110 `"…"` (visible ASCII but `"`), or the same
 * characters unquoted; no weak `W/` tags. S3/R2/RGW part ETags are 32 hex digits in quotes.
 */
export const ETAG_PATTERN = '^(?:"[\\x21\\x23-\\x7e]{1,256}"|[\\x21\\x23-\\x7e]{1,256})$'

/** Most part URLs one request may ask for: 1,000 URLs are ≈1 MB of JSON with R2's long upload IDs. */
export const MAX_PART_URLS_PER_REQUEST = 1000

/**
 * Body limit of POST …/complete: 10,000 parts with ETags of up to 258 characters. The other
 * routes keep the service-wide 64 KiB.
 */
export const COMPLETE_BODY_LIMIT_BYTES = 4 * 1024 * 1024

export const UploadId = Type.String({
  minLength: 1,
  maxLength: UPLOAD_ID_MAX_LENGTH,
  pattern: UPLOAD_ID_PATTERN,
  mustBe: 'an upload ID as storage returned it: letters, digits and . _ ~ + / = -',
  description: 'The upload ID storage assigned, as returned on creation (opaque; letters, digits and . _ ~ + / = -, at most 1024). Percent-encode it in the path (a "/" as %2F).',
  examples: ['2~eTVBiQEBslryxi-1OdiKJF7YeCFINXK']
})

export const PartNumber = Type.Integer({ minimum: 1, maximum: MAX_PARTS, description: 'Part number, 1..10000.' })

export const ETag = Type.String({
  minLength: 1,
  maxLength: 258,
  pattern: ETAG_PATTERN,
  mustBe: 'an ETag as storage returned it, quoted or not',
  description: 'The part\'s ETag as storage returned it (the ETag header of the part PUT, or from the parts listing); quoted or not.',
  examples: ['"5d41402abc4b2a76b9719d911017c592"']
})

export const UploadParams = Type.Object({ uploadId: UploadId })

export const UploadToken = Type.String({
  minLength: 1,
  maxLength: UPLOAD_TOKEN_MAX_LENGTH,
  pattern: UPLOAD_TOKEN_PATTERN,
  description: 'The `uploadToken` answered when the upload was created (opaque; binds the upload ID, bucket, key, size, part size, content type and limits; valid 7 days). Missing, altered, expired or for another upload: 400 INVALID_UPLOAD_TOKEN.',
  examples: ['v1.eyJ1IjoiMn5lVFZCaVFFQnNscnl4aS0xT2RpS0pGN1llQ0ZJTlhLIn0.3q2-7w0123456789abcdefghijklmnopqrstuvwxyzA'],
  errorCode: 'INVALID_UPLOAD_TOKEN'
})

/** Query of GET …/parts and DELETE …: which object the upload belongs to. */
export const UploadQuery = Type.Object({
  key: ObjectKey,
  bucket: Type.Optional(BucketName)
}, { additionalProperties: false })

export const CreateMultipartUploadRequest = Type.Object({
  key: ObjectKey,
  bucket: Type.Optional(BucketName),
  contentType: MediaTypeFor('Content-Type the object gets; must be allowed by the upload policy (403 CONTENT_TYPE_NOT_ALLOWED).'),
  size: Type.Integer({
    minimum: 0,
    maximum: MAX_OBJECT_SIZE,
    description: 'Size of the whole file in bytes (required): at most the upload policy\'s limit (413 UPLOAD_TOO_LARGE) and 5 TiB − 5 GiB (R2\'s limit). r2-signer picks a part size (or checks the one asked for), and every part URL is signed for its planned size.'
  }),
  partSize: Type.Optional(Type.Integer({
    minimum: MIN_PART_SIZE,
    maximum: MAX_PART_SIZE,
    description: 'Wanted size of every part but the last, 5 MiB to 5 GiB − 5 MiB. With `size`, it must fit the file in 10,000 parts.',
    examples: [16777216]
  })),
  writeOnce: Type.Optional(Type.Boolean({ description: 'Refuse to replace an existing object: 412 OBJECT_EXISTS at creation and at completion. Always on when the permission service\'s limits say write-once.' }))
}, {
  $id: 'CreateMultipartUploadRequest',
  additionalProperties: false,
  description: 'The object to upload in parts, its content type, and (best) its size.',
  examples: [{ key: 'users/alice/videos/holiday.mp4', contentType: 'video/mp4', size: 1073741824 }]
})

export const CreateMultipartUploadResponse = Type.Object({
  uploadId: Type.String(),
  bucket: Type.String(),
  key: Type.String(),
  partSize: Type.Integer({ description: 'Upload every part with exactly this many bytes, except the last (the rest: 1..partSize bytes; 0 for an empty file). Storage refuses a part of another size (403).' }),
  partCount: Type.Integer({ description: 'Number of parts: ceil(size / partSize), at least 1.' }),
  uploadToken: Type.String({ description: 'Send it with every part-urls and complete request for this upload (opaque, valid 7 days). Keep it with the uploadId to resume.' })
}, {
  $id: 'CreateMultipartUploadResponse',
  description: 'The new upload: keep `uploadId` and `uploadToken` (e.g. in localStorage) to resume, and cut the file into `partSize` pieces.',
  examples: [{ uploadId: '2~eTVBiQEBslryxi-1OdiKJF7YeCFINXK', bucket: 'media', key: 'users/alice/videos/holiday.mp4', partSize: 8388608, partCount: 128, uploadToken: 'v1.eyJ1IjoiMn5lVFZCaVFFQnNscnl4aS0xT2RpS0pGN1llQ0ZJTlhLIn0.3q2-7w0123456789abcdefghijklmnopqrstuvwxyzA' }]
})

export const PartUrlsRequest = Type.Object({
  key: ObjectKey,
  bucket: Type.Optional(BucketName),
  expiresIn: Type.Optional(ExpiresIn),
  uploadToken: UploadToken,
  partNumbers: Type.Array(PartNumber, {
    minItems: 1,
    maxItems: MAX_PART_URLS_PER_REQUEST,
    uniqueItems: true,
    description: 'Parts to sign URLs for: unique, 1..partCount, at most 1000 per request.'
  })
}, {
  $id: 'PartUrlsRequest',
  additionalProperties: false,
  description: 'The upload\'s key, its uploadToken and the parts to sign URLs for.',
  examples: [{ key: 'users/alice/videos/holiday.mp4', uploadToken: 'v1.eyJ1IjoiMn5lVFZCaVFFQnNscnl4aS0xT2RpS0pGN1llQ0ZJTlhLIn0.3q2-7w0123456789abcdefghijklmnopqrstuvwxyzA', partNumbers: [1, 2, 3, 4] }]
})

export const PartUrlsResponse = Type.Object({
  uploadId: Type.String(),
  bucket: Type.String(),
  key: Type.String(),
  expiresIn: Type.Integer({ description: 'Lifetime of every URL in seconds.' }),
  headers: Type.Record(Type.String(), Type.String(), {
    description: 'Headers every part PUT must send besides the body: none. Each URL signs `host` and `content-length` = that part\'s planned size (`partSize`, the last part the rest), which every HTTP client sets itself; no `content-type` is needed.'
  }),
  parts: Type.Array(Type.Object({
    partNumber: Type.Integer(),
    url: Type.String({ description: 'Presigned PUT URL for this part, for exactly its planned size (another size: 403). Storage answers its ETag in the ETag header.' }),
    expiresAt: Type.String({ format: 'date-time', description: 'When storage starts answering 403 to a PUT that starts later (RFC 3339).' })
  }), { description: 'One URL per part number asked for, in that order.' })
}, {
  $id: 'PartUrlsResponse',
  description: 'Presigned PUT URLs for parts of the upload. Each PUT sends exactly the part\'s planned bytes (no other header needed); storage answers the part\'s ETag.',
  examples: [{
    uploadId: '2~eTVBiQEBslryxi-1OdiKJF7YeCFINXK',
    bucket: 'media',
    key: 'users/alice/videos/holiday.mp4',
    expiresIn: 300,
    headers: {},
    parts: [{
      partNumber: 1,
      url: 'https://ACCOUNT_ID.r2.cloudflarestorage.com/media/users/alice/videos/holiday.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=…&X-Amz-Date=20260101T120000Z&X-Amz-Expires=300&X-Amz-Signature=…&X-Amz-SignedHeaders=content-length%3Bhost&partNumber=1&uploadId=2~eTVBiQEBslryxi-1OdiKJF7YeCFINXK&x-id=UploadPart',
      expiresAt: '2026-01-01T12:05:00.000Z'
    }]
  }]
})

export const ListPartsResponse = Type.Object({
  uploadId: Type.String(),
  bucket: Type.String(),
  key: Type.String(),
  parts: Type.Array(Type.Object({
    partNumber: Type.Integer(),
    etag: Type.String(),
    size: Type.Integer({ description: 'Bytes storage holds for this part.' })
  }), { description: 'Every part storage holds, in part-number order.' })
}, {
  $id: 'ListPartsResponse',
  description: 'The parts storage holds for the upload: upload the missing ones, then complete with these ETags.',
  examples: [{
    uploadId: '2~eTVBiQEBslryxi-1OdiKJF7YeCFINXK',
    bucket: 'media',
    key: 'users/alice/videos/holiday.mp4',
    parts: [{ partNumber: 1, etag: '"5d41402abc4b2a76b9719d911017c592"', size: 8388608 }, { partNumber: 2, etag: '"7d793037a0760186574b0282f2f435e7"', size: 8388608 }]
  }]
})

export const CompleteMultipartUploadRequest = Type.Object({
  key: ObjectKey,
  bucket: Type.Optional(BucketName),
  uploadToken: UploadToken,
  parts: Type.Array(Type.Object({
    partNumber: PartNumber,
    etag: ETag
  }, { additionalProperties: false }), {
    minItems: 1,
    maxItems: MAX_PARTS,
    description: 'Every part of the object, 1..partCount, in ascending partNumber order without duplicates.'
  })
}, {
  $id: 'CompleteMultipartUploadRequest',
  additionalProperties: false,
  description: 'The upload\'s key, its uploadToken and all its parts with the ETags storage gave them.',
  examples: [{ key: 'users/alice/videos/holiday.mp4', uploadToken: 'v1.eyJ1IjoiMn5lVFZCaVFFQnNscnl4aS0xT2RpS0pGN1llQ0ZJTlhLIn0.3q2-7w0123456789abcdefghijklmnopqrstuvwxyzA', parts: [{ partNumber: 1, etag: '"5d41402abc4b2a76b9719d911017c592"' }, { partNumber: 2, etag: '"7d793037a0760186574b0282f2f435e7"' }] }]
})

export const CompleteMultipartUploadResponse = Type.Object({
  bucket: Type.String(),
  key: Type.String(),
  etag: Type.Optional(Type.String({ description: 'ETag of the assembled object, when storage reports one (Ceph 16 does not).' }))
}, {
  $id: 'CompleteMultipartUploadResponse',
  description: 'The object exists now; the upload is gone.',
  examples: [{ bucket: 'media', key: 'users/alice/videos/holiday.mp4', etag: '"3858f62230ac3c915f300c664312c11f-2"' }]
})
