import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { COMPLETE_BODY_LIMIT_BYTES, CompleteMultipartUploadRequest, CompleteMultipartUploadResponse, UploadParams } from '../../../schemas/multipart.js'
import { HttpProblem } from '../../../http/problem.js'
import { bearerAuth, problemResponsesFor } from '../shared.js'
import { assertMultipart, ERRORS, tags } from './shared.js'

/** POST /v1/multipart-uploads/{uploadId}/complete: storage assembles the object from the parts. */
const completeMultipartUpload: FastifyPluginAsyncTypebox = async (app) => {
  assertMultipart(app)
  app.post('/multipart-uploads/:uploadId/complete', {
    config: { writesObjects: true },
    // 10,000 parts do not fit in the service-wide 64 KiB.
    bodyLimit: COMPLETE_BODY_LIMIT_BYTES,
    schema: {
      operationId: 'completeMultipartUpload',
      tags,
      summary: 'Complete a multipart upload',
      description: 'Assembles the object from the listed parts after the permission service allows `write`. ' +
        'Parts must be in ascending partNumber order without duplicates (checked before storage is called); ' +
        'storage answers 400 INVALID_PART for a part it does not hold with that ETag, PART_TOO_SMALL for a part under 5 MiB that is not the last.',
      security: bearerAuth,
      params: UploadParams,
      body: CompleteMultipartUploadRequest,
      response: { 200: CompleteMultipartUploadResponse, ...problemResponsesFor(...ERRORS.complete) }
    }
  }, async (request) => {
    const { uploadId } = request.params
    const { key, parts } = request.body
    const bucket = app.signing.resolveBucket(request.body.bucket)
    for (let i = 1; i < parts.length; i++) {
      const previous = (parts[i - 1] as { partNumber: number }).partNumber
      const current = (parts[i] as { partNumber: number }).partNumber
      if (current <= previous) {
        throw new HttpProblem('INVALID_REQUEST', `body.parts must be in ascending partNumber order without duplicates: parts[${i}].partNumber ${current} follows ${previous}.`)
      }
    }
    await app.requirePermission(request, 'write', bucket, key)

    const { etag } = await app.multipart.complete({ bucket, key, uploadId, parts })
    return { bucket, key, ...(etag !== undefined && { etag }) }
  })
}

export default completeMultipartUpload
