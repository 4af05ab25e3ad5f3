import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { UploadParams, UploadQuery } from '../../../schemas/multipart.js'
import { COMMON_CODES, STORAGE_CODES } from '../../../http/problem-catalogue.js'
import { problemResponsesFor } from '../../../openapi/problems.js'
import { bearerAuth } from '../shared.js'
import { assertMultipart, tags } from './shared.js'

/** DELETE /v1/multipart-uploads/{uploadId}?key=…: discards the upload and the parts storage holds. */
const abortMultipartUpload: FastifyPluginAsyncTypebox = async (app) => {
  assertMultipart(app)
  app.delete('/multipart-uploads/:uploadId', {
    schema: {
      operationId: 'abortMultipartUpload',
      tags,
      summary: 'Abort a multipart upload',
      description: 'Aborts the upload and frees its parts after the permission service allows `write`. ' +
        'An upload that is already gone (completed, aborted) answers 404 UPLOAD_NOT_FOUND: a client retrying an abort can treat that as done. ' +
        'Part URLs signed earlier then fail at storage.',
      security: bearerAuth,
      params: UploadParams,
      querystring: UploadQuery,
      response: { 204: Type.Null({ description: 'Aborted.' }), ...problemResponsesFor([...COMMON_CODES, ...STORAGE_CODES, 'UPLOAD_NOT_FOUND']) }
    }
  }, async (request, reply) => {
    const { uploadId } = request.params
    const { bucket, key } = await app.authorizeObject(request, 'write', request.query)

    await app.multipart.abort({ bucket, key, uploadId })
    return reply.code(204).send(null)
  })
}

export default abortMultipartUpload
