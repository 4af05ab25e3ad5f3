import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ListPartsResponse, UploadParams, UploadQuery } from '../../../schemas/multipart.js'
import { COMMON_CODES, STORAGE_CODES } from '../../../http/problem-catalogue.js'
import { problemResponsesFor } from '../../../openapi/problems.js'
import { bearerAuth } from '../shared.js'
import { assertMultipart, tags } from './shared.js'

/** GET /v1/multipart-uploads/{uploadId}/parts?key=…: what storage holds, to resume after a crash. */
const listParts: FastifyPluginAsyncTypebox = async (app) => {
  assertMultipart(app)
  app.get('/multipart-uploads/:uploadId/parts', {
    schema: {
      operationId: 'listUploadedParts',
      tags,
      summary: 'List uploaded parts',
      description: 'Lists every part storage holds for the upload (all pages gathered) after the permission service allows `write`: ' +
        'a client resumes by uploading the parts missing from this list, then completes with these ETags.',
      security: bearerAuth,
      params: UploadParams,
      querystring: UploadQuery,
      response: { 200: ListPartsResponse, ...problemResponsesFor([...COMMON_CODES, ...STORAGE_CODES, 'UPLOAD_NOT_FOUND']) }
    }
  }, async (request) => {
    const { uploadId } = request.params
    const { bucket, key } = await app.authorizeObject(request, 'write', request.query)

    const parts = await app.multipart.listParts({ bucket, key, uploadId })
    return { uploadId, bucket, key, parts }
  })
}

export default listParts
