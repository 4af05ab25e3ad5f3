import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { CreateMultipartUploadRequest, CreateMultipartUploadResponse } from '../../../schemas/multipart.js'
import { HttpProblem } from '../../../http/problem.js'
import { checkPartSize, DEFAULT_PART_SIZE, PartSizeError, planParts } from '../../../storage/part-size.js'
import { bearerAuth, problemResponsesFor } from '../shared.js'
import { assertMultipart, ERRORS, tags } from './shared.js'

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
      response: { 201: CreateMultipartUploadResponse, ...problemResponsesFor(...ERRORS.create) }
    }
  }, async (request, reply) => {
    const { key, contentType, size, partSize: requested } = request.body
    const bucket = app.signing.resolveBucket(request.body.bucket)
    let plan: { partSize: number, partCount?: number }
    try {
      if (size === undefined) {
        if (requested !== undefined) checkPartSize(requested)
        plan = { partSize: requested ?? DEFAULT_PART_SIZE }
      } else {
        plan = planParts(size, requested)
      }
    } catch (error) {
      if (error instanceof PartSizeError) throw new HttpProblem('INVALID_PART_SIZE', error.message)
      throw error
    }
    await app.requirePermission(request, 'write', bucket, key)

    const { uploadId } = await app.multipart.create({ bucket, key, contentType })
    reply.code(201)
    return { uploadId, bucket, key, ...plan }
  })
}

export default createMultipartUpload
