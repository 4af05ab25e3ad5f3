import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { PartUrlsRequest, PartUrlsResponse, UploadParams } from '../../../schemas/multipart.js'
import { BODY_CODES, COMMON_CODES, WRITE_CODES } from '../../../http/problem-catalogue.js'
import { problemResponsesFor } from '../../../openapi/problems.js'
import { HttpProblem } from '../../../http/problem.js'
import { partCountOf, plannedPartSize } from '../../../uploads/completion.js'
import { bearerAuth, resolveExpiresIn } from '../shared.js'
import { tags } from './shared.js'

/**
 * POST /v1/multipart-uploads/{uploadId}/part-urls: presigned UploadPart URLs (PUT with partNumber
 * and uploadId in the signed query), each signed for its planned size (content-length) from the
 * uploadToken: storage refuses a part of another size. No content-type is signed, so a part's
 * bytes go as they are. Signing is local: whether the upload exists (for this key) is only known
 * when storage receives the PUT, which then answers 404 NoSuchUpload.
 */
const partUrls: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/multipart-uploads/:uploadId/part-urls', {
    config: { writesObjects: true },
    schema: {
      operationId: 'createPartUploadUrls',
      tags,
      summary: 'Sign part upload URLs',
      description: 'Returns presigned PUT URLs for up to 1000 parts of a multipart upload after the permission service allows `write`. ' +
        'Each URL is signed for the part\'s planned size (`partSize`, the last part the rest): send exactly those bytes, no other header is needed; ' +
        'storage refuses another size (403) and answers the part\'s ETag in the ETag header (the bucket\'s CORS rule must expose it). ' +
        'No storage call is made: an unknown uploadId is only refused by storage when a part is PUT.',
      security: bearerAuth,
      params: UploadParams,
      body: PartUrlsRequest,
      response: { 200: PartUrlsResponse, ...problemResponsesFor([...COMMON_CODES, ...BODY_CODES, 'INVALID_EXPIRES_IN', 'INVALID_UPLOAD_TOKEN', ...WRITE_CODES]) }
    }
  }, async (request) => {
    const { uploadId } = request.params
    const { key, partNumbers, uploadToken } = request.body
    const expiresIn = resolveExpiresIn(app, request.body.expiresIn)
    // One unit per URL: a request for 100 parts spends 100 of the subject's URLs this minute.
    await app.rateLimits.consumeUrls(request, partNumbers.length)
    const { bucket } = await app.authorizeObject(request, 'write', request.body)
    const plan = app.uploadTokens.verify(uploadToken, { uploadId, bucket, key })
    if (plan === undefined) throw new HttpProblem('INVALID_UPLOAD_TOKEN')
    const partCount = partCountOf(plan)
    const beyond = partNumbers.find((partNumber) => partNumber > partCount)
    if (beyond !== undefined) throw new HttpProblem('INVALID_REQUEST', `body.partNumbers: part ${beyond} is beyond the upload's ${partCount} parts.`)

    const signingDate = new Date() // one instant for the whole batch: every URL expires together
    const parts = partNumbers.map((partNumber) => {
      const headers = { 'content-length': String(plannedPartSize(plan, partNumber)) }
      const signed = app.signing.presign({ operation: 'UploadPart', bucket, key, expiresIn, partNumber, uploadId, signingDate, headers })
      return { partNumber, url: signed.url, expiresAt: signed.expiresAt.toISOString() }
    })
    // Host and content-length are signed, but every HTTP client sends them itself.
    return { uploadId, bucket, key, expiresIn, headers: {}, parts }
  })
}

export default partUrls
