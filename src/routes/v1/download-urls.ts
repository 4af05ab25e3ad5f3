import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { DownloadUrlRequest, DownloadUrlResponse } from '../../schemas/download-url.js'
import { BODY_CODES, COMMON_CODES } from '../../http/problem-catalogue.js'
import { problemResponsesFor } from '../../openapi/problems.js'
import { bearerAuth, resolveExpiresIn } from './shared.js'
import { downloadSigner } from './sign.js'

/** POST /v1/download-urls: a GET or HEAD URL for one object (Range requests go straight to storage). */
const downloadUrls: FastifyPluginAsyncTypebox = async (app) => {
  const signDownload = downloadSigner(app)
  app.post('/download-urls', {
    schema: {
      operationId: 'createDownloadUrl',
      tags: ['signed URLs'],
      summary: 'Sign a download URL',
      description: 'Returns a presigned GET (or HEAD) URL for one object after the permission service allows `read`.',
      security: bearerAuth,
      body: DownloadUrlRequest,
      response: { 200: DownloadUrlResponse, ...problemResponsesFor([...COMMON_CODES, ...BODY_CODES, 'INVALID_EXPIRES_IN']) }
    }
  }, async (request) => {
    const expiresIn = resolveExpiresIn(app, request.body.expiresIn)
    await app.rateLimits.consumeUrls(request, 1)
    const { bucket, key } = await app.authorizeObject(request, 'read', request.body)
    return signDownload(bucket, key, request.body, expiresIn)
  })
}

export default downloadUrls
