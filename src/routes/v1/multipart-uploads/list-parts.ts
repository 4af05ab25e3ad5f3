import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ListPartsResponse, UploadParams, UploadQuery } from '../../../schemas/multipart.js'
import { bearerAuth, problemResponsesFor } from '../shared.js'
import { assertMultipart, ERRORS, tags } from './shared.js'

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
      response: { 200: ListPartsResponse, ...problemResponsesFor(...ERRORS.listParts) }
    }
  }, async (request) => {
    const { uploadId } = request.params
    const { key } = request.query
    const bucket = app.signing.resolveBucket(request.query.bucket)
    await app.requirePermission(request, 'write', bucket, key)

    const parts = await app.multipart.listParts({ bucket, key, uploadId })
    return { uploadId, bucket, key, parts }
  })
}

export default listParts
