import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { UploadUrlRequest, UploadUrlResponse } from '../../schemas/upload-url.js'
import { BODY_CODES, COMMON_CODES, WRITE_CODES } from '../../http/problem-catalogue.js'
import { problemResponsesFor } from '../../openapi/problems.js'
import { bearerAuth, resolveExpiresIn } from './shared.js'
import { signUpload } from './sign.js'

/** POST /v1/upload-urls: a PUT URL bound to the content type (and length and MD5 when given). */
const uploadUrls: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/upload-urls', {
    config: { writesObjects: true },
    schema: {
      operationId: 'createUploadUrl',
      tags: ['signed URLs'],
      summary: 'Sign an upload URL',
      description: 'Returns a presigned PUT URL for one object after the permission service allows `write`. ' +
        'Every header in `headers` is signed: the uploader must send them exactly, or storage answers 403.',
      security: bearerAuth,
      body: UploadUrlRequest,
      response: { 200: UploadUrlResponse, ...problemResponsesFor([...COMMON_CODES, ...BODY_CODES, 'INVALID_EXPIRES_IN', ...WRITE_CODES]) }
    }
  }, async (request) => {
    const expiresIn = resolveExpiresIn(app, request.body.expiresIn)
    const { bucket, key } = await app.authorizeObject(request, 'write', request.body)
    return signUpload(app, bucket, key, request.body, expiresIn)
  })
}

export default uploadUrls
