import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { UploadUrlRequest, UploadUrlResponse } from '../../schemas/upload-url.js'
import { BODY_CODES, COMMON_CODES, UPLOAD_POLICY_CODES, WRITE_CODES } from '../../http/problem-catalogue.js'
import { signUpload } from '../../uploads/single-put.js'
import { problemResponsesFor } from '../../openapi/problems.js'
import { bearerAuth, resolveExpiresIn } from './shared.js'

/** POST /v1/upload-urls: a PUT URL bound to the content type and length (and MD5, write-once when asked or required). */
const uploadUrls: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/upload-urls', {
    config: { writesObjects: true },
    schema: {
      operationId: 'createUploadUrl',
      tags: ['signed URLs'],
      summary: 'Sign an upload URL',
      description: 'Returns a presigned PUT URL for one object after the permission service allows `write`. ' +
        'The size and type must fit the upload policy (UPLOAD_MAX_BYTES and UPLOAD_CONTENT_TYPES, narrowed by the permission service\'s limits). ' +
        'Every header in `headers` is signed: the uploader must send them exactly, or storage answers 403; with `if-none-match: *` (write-once), storage answers 412 when the key exists.',
      security: bearerAuth,
      body: UploadUrlRequest,
      response: { 200: UploadUrlResponse, ...problemResponsesFor([...COMMON_CODES, ...BODY_CODES, 'INVALID_EXPIRES_IN', ...UPLOAD_POLICY_CODES, ...WRITE_CODES]) }
    }
  }, async (request) => {
    const expiresIn = resolveExpiresIn(app, request.body.expiresIn)
    await app.rateLimits.consumeUrls(request, 1)
    const authorization = await app.authorizeObject(request, 'write', request.body)
    const signed = signUpload(app, authorization, request.body, expiresIn)
    if (!signed.ok) throw signed.problem
    return signed.answer
  })
}

export default uploadUrls
