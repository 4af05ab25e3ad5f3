import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { CreateMultipartUploadRequest, CreateMultipartUploadResponse } from '../../../schemas/multipart.js'
import { HttpProblem } from '../../../http/problem.js'
import { PartSizeError, planUpload } from '../../../storage/part-size.js'
import { BODY_CODES, COMMON_CODES, STORAGE_CODES, WRITE_CODES } from '../../../http/problem-catalogue.js'
import { problemResponsesFor } from '../../../openapi/problems.js'
import { bearerAuth } from '../shared.js'
import { assertMultipart, tags } from './shared.js'

/** POST /v1/multipart-uploads: starts a multipart upload at storage and says how to cut the file. */
const createMultipartUpload: FastifyPluginAsyncTypebox = async (app) => {
  assertMultipart(app)
  app.post('/multipart-uploads', {
    config: { writesObjects: true },
    schema: {
      operationId: 'createMultipartUpload',
      tags,
      summary: 'Start a multipart upload',
      description: 'Creates a multipart upload for one object after the permission service allows `write`. ' +
        'With `size`, picks a part size valid for R2 and S3 (or checks `partSize`) and answers the part count. ' +
        'Upload every part but the last with exactly `partSize` bytes: R2 requires equal parts.',
      security: bearerAuth,
      body: CreateMultipartUploadRequest,
      response: { 201: CreateMultipartUploadResponse, ...problemResponsesFor([...COMMON_CODES, ...BODY_CODES, ...STORAGE_CODES, 'INVALID_PART_SIZE', ...WRITE_CODES]) }
    }
  }, async (request, reply) => {
    const { key, contentType, size, partSize } = request.body
    let plan: ReturnType<typeof planUpload>
    try {
      plan = planUpload(size, partSize)
    } catch (error) {
      if (error instanceof PartSizeError) throw new HttpProblem('INVALID_PART_SIZE', error.message)
      throw error
    }
    const { bucket } = await app.authorizeObject(request, 'write', request.body)

    const { uploadId } = await app.multipart.create({ bucket, key, contentType })
    reply.code(201)
    return { uploadId, bucket, key, ...plan }
  })
}

export default createMultipartUpload
