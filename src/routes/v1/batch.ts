import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { BatchDownloadItem, BatchEnvelope, BatchRequest, BatchResponse, BatchUploadItem } from '../../schemas/batch.js'
import { BODY_CODES } from '../../http/problem-catalogue.js'
import { signUpload, type SingleUploadRequest } from '../../uploads/single-put.js'
import { HttpProblem, type ProblemBody } from '../../http/problem.js'
import { createValidatorCompiler } from '../../http/ajv.js'
import { validationProblem } from '../../http/error-handler.js'
import type { ValidationIssue } from '../../http/validation-words.js'
import { problemResponsesFor } from '../../openapi/problems.js'
import type { ObjectCheck } from '../../permissions/plugin.js'
import { bearerAuth, resolveExpiresIn } from './shared.js'
import { downloadSigner, type DownloadFields, type SignedAnswer } from './sign.js'

/** A batch body may hold BATCH_MAX_ITEMS items of up to this size each (a 1 KiB key, escaped, and the other fields). */
const BODY_BYTES_PER_ITEM = 2048
const BODY_BYTES_BASE = 64 * 1024

type Item =
  | ({ op: 'download', key: string, bucket?: string } & DownloadFields)
  | ({ op: 'upload', key: string, bucket?: string } & SingleUploadRequest)

export type BatchItemResult =
  | ({ status: 200 } & SignedAnswer)
  | { status: number, problem: ProblemBody }

const refused = (problem: HttpProblem): BatchItemResult => ({ status: problem.statusCode, problem: problem.toBody() })

/**
 * POST /v1/batch: many download and upload URLs in one call. Whatever is wrong with one item is
 * that item's problem; only the request itself (token, envelope, media type, size) fails as a whole.
 * Items are validated one by one, authorized together (app.checkObjects: the same pre-checks as the
 * single routes, identical checks asked once), then signed locally; the answer keeps request order.
 */
const batch: FastifyPluginAsyncTypebox = async (app) => {
  const { maxItems } = app.config.batch
  const compile = createValidatorCompiler()
  const envelope = compile(BatchEnvelope(maxItems))
  const validators = { download: compile(BatchDownloadItem), upload: compile(BatchUploadItem) }
  const signDownload = downloadSigner(app, { counted: false })

  /** The item's problem if it breaks a rule of its op's schema; undefined when it is valid. */
  function invalidItem (item: unknown, index: number): HttpProblem | undefined {
    const where = `items[${index}]`
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return new HttpProblem('INVALID_REQUEST', `${where} must be an object.`)
    const op = (item as { op?: unknown }).op
    if (op !== 'download' && op !== 'upload') {
      return new HttpProblem('INVALID_REQUEST', op === undefined ? `${where} is missing the required property "op".` : `${where}.op must be "download" or "upload".`)
    }
    const validate = validators[op]
    if (validate(item)) return undefined
    return validationProblem((validate.errors ?? []) as ValidationIssue[], where, app.config.signedUrls.maxTtlSeconds)
  }

  app.post('/batch', {
    bodyLimit: BODY_BYTES_BASE + maxItems * BODY_BYTES_PER_ITEM,
    // The documented schema lists the items' fields; Fastify checks only the envelope, so that a bad
    // item gets its own problem below instead of failing the request.
    validatorCompiler: ({ httpPart }) => httpPart === 'body' ? envelope : () => true,
    // Plain JSON.stringify: fast-json-stringify would test each of up to thousands of items against the response union.
    serializerCompiler: () => (data) => JSON.stringify(data),
    schema: {
      operationId: 'createBatch',
      tags: ['signed URLs'],
      summary: 'Sign many URLs',
      description: `Returns up to BATCH_MAX_ITEMS (default 1000) download and upload URLs in one call, in request order. Each item gets a signed URL (status 200) or its own problem (status 4xx/5xx); a bad item never fails the others. The items' permission checks are asked together: identical checks once, cached decisions reused, and with PERMISSIONS_BATCH_URL in one round trip. The request fails as a whole only for a bad token (401), a body that is not \`{items: [...]}\` with 1..BATCH_MAX_ITEMS items (400), a body that is not JSON (415) or one over ${BODY_BYTES_BASE} bytes + ${BODY_BYTES_PER_ITEM} bytes per BATCH_MAX_ITEMS (413).`,
      security: bearerAuth,
      body: BatchRequest,
      response: { 200: BatchResponse, ...problemResponsesFor(['INVALID_REQUEST', 'INVALID_EXPIRES_IN', 'UNAUTHORIZED', 'TOKEN_KEYS_UNAVAILABLE', 'RATE_LIMITED', ...BODY_CODES]) }
    }
  }, async (request) => {
    const expiresIn = resolveExpiresIn(app, request.body.expiresIn)
    const items = request.body.items as unknown[]
    // Rate limits: a batch counts its items (429 RATE_LIMITED for the whole request over the limit).
    await app.rateLimits.consumeUrls(request, items.length)
    const results: BatchItemResult[] = new Array(items.length)

    // 1. validate each item (the valid ones are kept by index: no object per item)
    const valid: number[] = []
    let anyUpload = false
    for (let index = 0; index < items.length; index++) {
      const problem = invalidItem(items[index], index)
      if (problem !== undefined) {
        results[index] = refused(problem)
      } else {
        valid.push(index)
        if ((items[index] as Item).op === 'upload') anyUpload = true
      }
    }

    // 2. writes are gated on the storage self-test, as on the single upload route
    let writeProblem: HttpProblem | undefined
    if (anyUpload) {
      try {
        await app.storageSafety.assertWritable()
      } catch (error) {
        if (!(error instanceof HttpProblem)) throw error
        writeProblem = error
      }
    }
    const toCheck: number[] = []
    const checks: ObjectCheck[] = []
    for (const index of valid) {
      const item = items[index] as Item
      if (writeProblem !== undefined && item.op === 'upload') {
        results[index] = refused(writeProblem)
      } else {
        toCheck.push(index)
        checks.push({ action: item.op === 'upload' ? 'write' : 'read', object: item })
      }
    }

    // 3. authorize them together
    const authorizations = await app.checkObjects(request, checks)

    // 4. sign what was allowed, at one instant (every URL of a batch expires together), with the
    // single routes' rules: the upload policy (sizes, types, write-once) per upload item.
    const signingDate = new Date()
    let gets = 0
    let heads = 0
    authorizations.forEach((authorization, n) => {
      const index = toCheck[n] as number
      const item = items[index] as Item
      if (!authorization.allowed) {
        results[index] = refused(authorization.problem)
      } else if (item.op === 'upload') {
        const signed = signUpload(app, authorization, item, expiresIn, signingDate)
        results[index] = signed.ok ? { status: 200, ...signed.answer } : refused(signed.problem)
      } else {
        const signed = signDownload(authorization.bucket, authorization.key, item, expiresIn, signingDate)
        if (signed.method === 'HEAD') heads++
        else gets++
        results[index] = { status: 200, ...signed }
      }
    })

    // Counted once per batch, not per item (uploads are counted by signUpload, as on the single route).
    if (gets > 0) app.metrics.signedUrls.inc({ operation: 'GetObject' }, gets)
    if (heads > 0) app.metrics.signedUrls.inc({ operation: 'HeadObject' }, heads)
    const counts = { download: { signed: 0, refused: 0 }, upload: { signed: 0, refused: 0 } }
    let denied = 0
    let failed = 0
    results.forEach((result, index) => {
      const op = (items[index] as { op?: unknown } | null)?.op === 'upload' ? 'upload' : 'download'
      counts[op][result.status === 200 ? 'signed' : 'refused']++
      if (result.status === 403) denied++
      else if (result.status !== 200) failed++
    })
    for (const op of ['download', 'upload'] as const) {
      for (const outcome of ['signed', 'refused'] as const) {
        if (counts[op][outcome] > 0) app.metrics.batchItems.inc({ op, outcome }, counts[op][outcome])
      }
    }
    const signed = counts.download.signed + counts.upload.signed
    request.audit.batch = { items: items.length, signed, denied, failed }
    return { items: results }
  })
}

export default batch
