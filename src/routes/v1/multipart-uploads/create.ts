import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { CreateMultipartUploadRequest, CreateMultipartUploadResponse } from '../../../schemas/multipart.js'
import { HttpProblem } from '../../../http/problem.js'
import { PartSizeError, planParts } from '../../../storage/part-size.js'
import { BODY_CODES, COMMON_CODES, STORAGE_CODES, UPLOAD_POLICY_CODES, WRITE_CODES } from '../../../http/problem-catalogue.js'
import { effectivePolicy, policyRefusal } from '../../../uploads/policy.js'
import { problemResponsesFor } from '../../../openapi/problems.js'
import { bearerAuth } from '../shared.js'
import { assertMultipart, tags } from './shared.js'

/**
 * POST /v1/multipart-uploads: checks the file against the upload policy, starts a multipart upload
 * at storage, and answers the plan (how to cut the file) with an uploadToken binding it.
 */
const createMultipartUpload: FastifyPluginAsyncTypebox = async (app) => {
  assertMultipart(app)
  app.post('/multipart-uploads', {
    config: { writesObjects: true },
    schema: {
      operationId: 'createMultipartUpload',
      tags,
      summary: 'Start a multipart upload',
      description: 'Creates a multipart upload for one object after the permission service allows `write`. ' +
        '`size` and `contentType` must fit the upload policy (UPLOAD_MAX_BYTES and UPLOAD_CONTENT_TYPES, narrowed by the permission service\'s limits). ' +
        'Picks a part size valid for R2 and S3 (or checks `partSize`) and answers the part count and an `uploadToken` for part-urls and complete. ' +
        'Upload every part but the last with exactly `partSize` bytes: part URLs are signed for those sizes. ' +
        'Write-once (asked, or required by the policy): 412 OBJECT_EXISTS when the key already exists (checked again at completion; an object written between that check and the completion is replaced: storage offers no atomic check for it).',
      security: bearerAuth,
      body: CreateMultipartUploadRequest,
      response: { 201: CreateMultipartUploadResponse, ...problemResponsesFor([...COMMON_CODES, ...BODY_CODES, ...STORAGE_CODES, 'INVALID_PART_SIZE', ...UPLOAD_POLICY_CODES, 'OBJECT_EXISTS', ...WRITE_CODES]) }
    }
  }, async (request, reply) => {
    const { key, contentType, size, partSize: requestedPartSize, writeOnce } = request.body
    let plan: ReturnType<typeof planParts>
    try {
      plan = planParts(size, requestedPartSize)
    } catch (error) {
      if (error instanceof PartSizeError) throw new HttpProblem('INVALID_PART_SIZE', error.message)
      throw error
    }
    const { bucket, decision } = await app.authorizeObject(request, 'write', request.body)
    const limits = effectivePolicy(app.config.uploads, decision.limits)
    const policy = { ...limits, writeOnce: limits.writeOnce || writeOnce === true }
    const refusal = policyRefusal(policy, size, contentType)
    if (refusal !== undefined) throw new HttpProblem(refusal.code, refusal.detail)
    if (policy.writeOnce && await app.multipart.objectExists({ bucket, key })) throw new HttpProblem('OBJECT_EXISTS')

    const { uploadId } = await app.multipart.create({ bucket, key, contentType })
    const { partSize, partCount } = plan
    const uploadToken = app.uploadTokens.issue({ uploadId, bucket, key, size, partSize, contentType, policy })
    reply.code(201)
    return { uploadId, bucket, key, partSize, partCount, uploadToken }
  })
}

export default createMultipartUpload
