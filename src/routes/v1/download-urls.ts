import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { DownloadUrlRequest, DownloadUrlResponse } from '../../schemas/download-url.js'
import { contentDisposition } from '../../signing/content-disposition.js'
import { BODY_CODES, COMMON_CODES } from '../../http/problem-catalogue.js'
import { inlineContentTypeMatcher } from '../../signing/inline-content-types.js'
import { problemResponsesFor } from '../../openapi/problems.js'
import { bearerAuth, resolveExpiresIn } from './shared.js'

/** POST /v1/download-urls: a GET or HEAD URL for one object (Range requests go straight to storage). */
const downloadUrls: FastifyPluginAsyncTypebox = async (app) => {
  const mayServeInline = inlineContentTypeMatcher(app.config.downloads.inlineContentTypes)
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
    const { key, method = 'GET', filename, contentType } = request.body
    const expiresIn = resolveExpiresIn(app, request.body.expiresIn)
    await app.rateLimits.consumeUrls(request, 1)
    const { bucket } = await app.authorizeObject(request, 'read', request.body)

    const asked = request.body.disposition ?? (filename === undefined ? undefined : 'attachment')
    // A type override outside DOWNLOAD_INLINE_CONTENT_TYPES (text/html, SVG...) is never rendered by the
    // browser on the storage origin: not when inline is asked, nor by default (no disposition at all).
    const disposition = contentType !== undefined && !mayServeInline(contentType) ? 'attachment' : asked
    const signed = app.signing.presign({
      operation: method === 'HEAD' ? 'HeadObject' : 'GetObject',
      bucket,
      key,
      expiresIn,
      responseContentType: contentType,
      responseContentDisposition: disposition === undefined ? undefined : contentDisposition(disposition, filename)
    })
    return { url: signed.url, method, headers: {}, bucket, key, expiresIn, expiresAt: signed.expiresAt.toISOString() }
  })
}

export default downloadUrls
