import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { COMPLETE_BODY_LIMIT_BYTES, CompleteMultipartUploadRequest, CompleteMultipartUploadResponse, UploadParams } from '../../../schemas/multipart.js'
import { HttpProblem } from '../../../http/problem.js'
import { partOrderProblem } from '../../../storage/part-size.js'
import { BODY_CODES, COMMON_CODES, STORAGE_CODES, WRITE_CODES } from '../../../http/problem-catalogue.js'
import { problemResponsesFor } from '../../../openapi/problems.js'
import { bearerAuth } from '../shared.js'
import { assertMultipart, tags } from './shared.js'

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
      response: { 200: CompleteMultipartUploadResponse, ...problemResponsesFor([...COMMON_CODES, ...BODY_CODES, ...STORAGE_CODES, 'UPLOAD_NOT_FOUND', 'INVALID_PART', 'PART_TOO_SMALL', ...WRITE_CODES]) }
    }
  }, async (request) => {
    const { uploadId } = request.params
    const { key, parts } = request.body
    const misordered = partOrderProblem(parts)
    if (misordered !== undefined) throw new HttpProblem('INVALID_REQUEST', `body.${misordered}`)
    const { bucket } = await app.authorizeObject(request, 'write', request.body)

    const { etag } = await app.multipart.complete({ bucket, key, uploadId, parts })
    return { bucket, key, ...(etag !== undefined && { etag }) }
  })
}

export default completeMultipartUpload
