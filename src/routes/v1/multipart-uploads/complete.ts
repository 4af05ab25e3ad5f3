import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { COMPLETE_BODY_LIMIT_BYTES, CompleteMultipartUploadRequest, CompleteMultipartUploadResponse, UploadParams } from '../../../schemas/multipart.js'
import { HttpProblem } from '../../../http/problem.js'
import { partOrderProblem } from '../../../storage/part-size.js'
import { completionProblem } from '../../../uploads/completion.js'
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
        'Parts must be in ascending partNumber order without duplicates (checked before storage is called). ' +
        'r2-signer then lists the parts storage holds and answers 400 UPLOAD_INCOMPLETE, leaving the upload as it is, unless they are exactly parts 1..partCount ' +
        'with their planned sizes and the ETags given; a write-once upload whose key has meanwhile been written answers 412 OBJECT_EXISTS. ' +
        'Storage may still answer 400 INVALID_PART or PART_TOO_SMALL.',
      security: bearerAuth,
      params: UploadParams,
      body: CompleteMultipartUploadRequest,
      response: { 200: CompleteMultipartUploadResponse, ...problemResponsesFor([...COMMON_CODES, ...BODY_CODES, ...STORAGE_CODES, 'UPLOAD_NOT_FOUND', 'INVALID_UPLOAD_TOKEN', 'UPLOAD_INCOMPLETE', 'OBJECT_EXISTS', 'INVALID_PART', 'PART_TOO_SMALL', ...WRITE_CODES]) }
    }
  }, async (request) => {
    const { uploadId } = request.params
    const { key, parts, uploadToken } = request.body
    const misordered = partOrderProblem(parts)
    if (misordered !== undefined) throw new HttpProblem('INVALID_REQUEST', `body.${misordered}`)
    const { bucket } = await app.authorizeObject(request, 'write', request.body)
    const plan = app.uploadTokens.verify(uploadToken, { uploadId, bucket, key })
    if (plan === undefined) throw new HttpProblem('INVALID_UPLOAD_TOKEN')

    const stored = await app.multipart.listParts({ bucket, key, uploadId })
    const incomplete = completionProblem(plan, stored, parts)
    if (incomplete !== undefined) throw new HttpProblem('UPLOAD_INCOMPLETE', incomplete)
    if (plan.policy.writeOnce && await app.multipart.objectExists({ bucket, key })) throw new HttpProblem('OBJECT_EXISTS')

    const { etag } = await app.multipart.complete({ bucket, key, uploadId, parts })
    return { bucket, key, ...(etag !== undefined && { etag }) }
  })
}

export default completeMultipartUpload
