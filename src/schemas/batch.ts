import { Type } from 'typebox'
import { DownloadUrlRequest } from './download-url.js'
import { UploadUrlRequest } from './upload-url.js'
import { ExpiresIn, Problem, SignedUrlFields } from './common.js'

/**
 * POST /v1/batch. The items reuse the single routes' fields and rules (their schemas' properties),
 * without `expiresIn`, which the batch gives once. Items are validated one by one
 * (src/routes/v1/batch.ts): a bad item is that item's problem; only the envelope fails the request.
 */
const { expiresIn: _downloadTtl, ...downloadFields } = DownloadUrlRequest.properties
const { expiresIn: _uploadTtl, ...uploadFields } = UploadUrlRequest.properties

export const BatchDownloadItem = Type.Object({
  op: Type.Literal('download', { description: 'A download URL, as POST /v1/download-urls signs it.' }),
  ...downloadFields
}, {
  $id: 'BatchDownloadItem',
  additionalProperties: false,
  description: 'One download URL: the fields of DownloadUrlRequest but `expiresIn` (given once for the batch).',
  examples: [{ op: 'download', key: 'users/alice/streams/teaser/segment-000.ts' }]
})

export const BatchUploadItem = Type.Object({
  op: Type.Literal('upload', { description: 'An upload URL, as POST /v1/upload-urls signs it, with the same limits.' }),
  ...uploadFields
}, {
  $id: 'BatchUploadItem',
  additionalProperties: false,
  description: 'One upload URL: the fields of UploadUrlRequest but `expiresIn` (given once for the batch), with the same upload policy (UPLOAD_MAX_BYTES, UPLOAD_CONTENT_TYPES, the permission service\'s limits).',
  examples: [{ op: 'upload', key: 'users/alice/photos/1.jpg', contentType: 'image/jpeg', contentLength: 48213 }]
})

export const BatchRequest = Type.Object({
  items: Type.Array(Type.Union([BatchDownloadItem, BatchUploadItem]), {
    minItems: 1,
    description: 'What to sign, 1 to BATCH_MAX_ITEMS items (default 1000). Each item is checked on its own: an item that breaks a rule ' +
      '(a missing or mistyped field, an invalid key, a bucket not allowed, an upload over its limits), is refused by the permission ' +
      'service, or could not be decided gets its own problem in the answer, and the other items are signed.'
  }),
  expiresIn: Type.Optional(ExpiresIn)
}, {
  $id: 'BatchRequest',
  additionalProperties: false,
  description: 'Many URLs in one call: the items\' permission checks are asked together (one round trip with PERMISSIONS_BATCH_URL).',
  examples: [{ items: [{ op: 'download', key: 'users/alice/streams/teaser/index.m3u8' }, { op: 'download', key: 'users/alice/streams/teaser/segment-000.ts' }], expiresIn: 120 }]
})

export const BatchSignedItem = Type.Object({
  status: Type.Literal(200, { description: 'The item was signed.' }),
  ...SignedUrlFields,
  method: Type.Enum(['GET', 'HEAD', 'PUT'], { description: 'The method the URL is signed for.' })
}, {
  $id: 'BatchSignedItem',
  description: 'A signed item: the same fields as the single route\'s answer, and status 200.'
})

export const BatchRefusedItem = Type.Object({
  status: Type.Integer({ minimum: 400, maximum: 599, description: 'The HTTP status the item\'s problem has.', examples: [403] }),
  problem: Problem
}, {
  $id: 'BatchRefusedItem',
  description: 'An item that was not signed, and why (RFC 9457 problem details, as a single route would answer them).'
})

export const BatchResponse = Type.Object({
  items: Type.Array(Type.Union([BatchSignedItem, BatchRefusedItem]), { description: 'One result per requested item, in request order.' })
}, {
  $id: 'BatchResponse',
  description: 'The items in request order, each signed (status 200) or refused (status and problem).',
  examples: [{
    items: [{
      status: 200,
      url: 'https://ACCOUNT_ID.r2.cloudflarestorage.com/media/users/alice/streams/teaser/index.m3u8?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=…&X-Amz-Date=20260101T120000Z&X-Amz-Expires=120&X-Amz-SignedHeaders=host&X-Amz-Signature=…',
      method: 'GET',
      headers: {},
      bucket: 'media',
      key: 'users/alice/streams/teaser/index.m3u8',
      expiresIn: 120,
      expiresAt: '2026-01-01T12:02:00.000Z'
    }, {
      status: 403,
      problem: { type: 'urn:r2-signer:problem:permission-denied', title: 'Permission denied', status: 403, detail: 'Not allowed to read this object.', code: 'PERMISSION_DENIED' }
    }]
  }]
})

/** What the route accepts before looking at items: the envelope only (items are validated one by one). */
export const BatchEnvelope = (maxItems: number) => Type.Object({
  items: Type.Array(Type.Unknown(), { minItems: 1, maxItems }),
  expiresIn: Type.Optional(ExpiresIn)
}, { additionalProperties: false })
