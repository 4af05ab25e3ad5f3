import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { createBatchPermissionClient, createPermissionClient, type PermissionAction, type PermissionDecision, type PermissionQuery } from './permission-client.js'
import { createCachingPermissionClient, type CheckedDecision, type ManyChecks } from './decision-cache.js'
import { createCoalescingAsker } from './coalescer.js'
import { HttpProblem } from '../http/problem.js'
import { checkRevocation } from './revocation-check.js'

/** The object a request is about; `bucket` absent means S3_BUCKET. */
export interface ObjectRef {
  bucket?: string | undefined
  key: string
}

/**
 * The outcome of authorizing one object: allowed (with the resolved bucket and the permission
 * service's decision, which later carries per-user limits), or the problem to answer.
 */
export type Authorization =
  | { allowed: true, bucket: string, key: string, decision: PermissionDecision & { outcome: 'allowed' } }
  | { allowed: false, problem: HttpProblem }

/** One object of a batch and the action asked on it. */
export interface ObjectCheck {
  action: PermissionAction
  object: ObjectRef
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Authorizes `action` on one object without throwing for a refusal: the bucket allow-list,
     * the revocations (./revocation-check.ts), then the permission decision, recorded in
     * `request.audit` and the metrics.
     */
    checkObject: (request: FastifyRequest, action: PermissionAction, object: ObjectRef) => Promise<Authorization>
    /**
     * checkObject for many objects of one request, in order: the same pre-checks per object, then
     * their decisions asked together (identical checks once; one round trip with
     * PERMISSIONS_BATCH_URL, else PERMISSIONS_BATCH_CONCURRENCY single checks at a time). The audit
     * record gets the subject only: a batch logs counts, not keys.
     */
    checkObjects: (request: FastifyRequest, checks: readonly ObjectCheck[]) => Promise<Authorization[]>
    /** checkObject for single-object routes: returns the allowed authorization, throws the refusal's problem. */
    authorizeObject: (request: FastifyRequest, action: PermissionAction, object: ObjectRef) => Promise<Extract<Authorization, { allowed: true }>>
  }
}

/**
 * The one authorization step of every /v1 route: handlers validate, then authorize, then sign
 * or call storage. Fails closed: anything but a clear `allowed` is a refusal.
 */
export default fp(async function permissions (app) {
  const { cache, batchUrl, batchConcurrency, ...clientOptions } = app.config.permissions
  const { allowedBuckets, defaultBucket } = app.config.storage
  const { revocations, decisions } = app.sharedState
  const singleClient = createPermissionClient(clientOptions)
  const batchClient = batchUrl === undefined ? undefined : createBatchPermissionClient({ ...clientOptions, url: batchUrl })
  // With a batch endpoint, single checks arriving together share one round trip (./coalescer.ts).
  const asking = batchClient === undefined
    ? singleClient
    : { ask: createCoalescingAsker({ ask: singleClient.ask, askMany: batchClient.askMany, maxBatch: app.config.batch.maxItems }).ask, close: singleClient.close }
  // With Redis, decisions asked on any instance are reused on the others (behind the local LRU).
  const client = createCachingPermissionClient(asking, { ...cache, shared: decisions })
  const manyChecks: ManyChecks = batchClient === undefined ? { concurrency: batchConcurrency } : { askMany: batchClient.askMany }
  // A revocation drops every cached decision here (the shared store drops its own: src/shared-state/index.ts):
  // none from before it is reused once it is lifted. Revocations are rare; decisions are cheap to ask again.
  const stopWatching = revocations.onChange((change) => { if (change.type === 'created') client.forgetAll() })
  app.addHook('onClose', async () => {
    stopWatching()
    await Promise.all([client.close(), batchClient?.close()])
  })

  /**
   * What is decided before the permission service is asked, per object: the bucket (default
   * S3_BUCKET), the allow-list and the revocations. Every per-object pre-check belongs here, so
   * single and batch routes apply the same ones. A refusal's problem (and what to audit), or the query to ask.
   */
  function preCheck (request: FastifyRequest, action: PermissionAction, object: ObjectRef): { problem: HttpProblem, audit?: string } | { query: PermissionQuery } {
    const bucket = object.bucket ?? defaultBucket
    if (!allowedBuckets.has(bucket)) return { problem: new HttpProblem('BUCKET_NOT_ALLOWED') }
    const subject = request.user.sub
    const revocation = checkRevocation(revocations, subject, bucket, object.key)
    if (revocation.unconfirmed) app.metrics.revocationUnavailable.inc({ action: revocation.refused ? 'refused' : 'allowed' })
    if (revocation.refused) return { problem: revocation.problem, audit: revocation.problem.code === 'REVOKED' ? 'revoked' : 'revocations unavailable' }
    return { query: { subject, action, bucket, key: object.key } }
  }

  /** Turns a decision into the object's authorization. */
  function conclude ({ action, bucket, key }: PermissionQuery, { decision }: CheckedDecision): Authorization {
    switch (decision.outcome) {
      case 'allowed':
        return { allowed: true, bucket, key, decision }
      case 'denied':
        return { allowed: false, problem: new HttpProblem('PERMISSION_DENIED', `Not allowed to ${action} this object.`) }
      case 'unauthenticated':
        return { allowed: false, problem: new HttpProblem('UNAUTHORIZED', 'The permission service did not accept the token.', { 'www-authenticate': 'Bearer realm="r2-signer", error="invalid_token"' }) }
      case 'unavailable':
        return { allowed: false, problem: new HttpProblem('PERMISSION_SERVICE_UNAVAILABLE') }
    }
  }

  /** Times one decision into the histogram, labelled once its outcome is known. */
  function timer (): (checked: CheckedDecision) => void {
    const end = app.metrics.permissionCheckDuration.startTimer()
    return ({ decision, source }) => { end({ outcome: decision.outcome, source }) }
  }

  async function checkObject (request: FastifyRequest, action: PermissionAction, object: ObjectRef): Promise<Authorization> {
    const pre = preCheck(request, action, object)
    if ('problem' in pre) {
      if (pre.audit !== undefined) {
        Object.assign(request.audit, { subject: request.user.sub, action, bucket: object.bucket ?? defaultBucket, key: object.key, permission: pre.audit })
      }
      return { allowed: false, problem: pre.problem }
    }
    const { query } = pre
    Object.assign(request.audit, query)
    const stop = timer()
    // No cached decision outlives the token: exp is a required, verified claim.
    const checked = await client.check(request.headers.authorization ?? '', query, request.user.exp * 1000)
    if (checked.source !== 'service') request.audit.permissionSource = checked.source
    const { decision } = checked
    request.audit.permission = decision.outcome === 'unavailable' ? `unavailable: ${decision.reason}` : decision.outcome
    stop(checked)
    app.metrics.permissionChecks.inc({ outcome: decision.outcome, source: checked.source })
    return conclude(query, checked)
  }

  async function checkObjects (request: FastifyRequest, checks: readonly ObjectCheck[]): Promise<Authorization[]> {
    request.audit.subject = request.user.sub
    const results: Authorization[] = new Array(checks.length)
    const queries: PermissionQuery[] = []
    const positions: number[] = []
    checks.forEach(({ action, object }, index) => {
      const pre = preCheck(request, action, object)
      if ('problem' in pre) {
        results[index] = { allowed: false, problem: pre.problem }
      } else {
        queries.push(pre.query)
        positions.push(index)
      }
    })
    if (queries.length === 0) return results
    const stop = timer()
    const decided = await client.checkMany(request.headers.authorization ?? '', queries, request.user.exp * 1000, manyChecks)
    // Metrics once per outcome and source, not per object: the checks of a batch are timed as one.
    const counted = new Map<string, { checked: CheckedDecision, count: number }>()
    decided.forEach((checked, n) => {
      const label = `${checked.decision.outcome}/${checked.source}`
      const entry = counted.get(label)
      if (entry === undefined) counted.set(label, { checked, count: 1 })
      else entry.count++
      results[positions[n] as number] = conclude(queries[n] as PermissionQuery, checked)
    })
    for (const { checked, count } of counted.values()) {
      stop(checked)
      app.metrics.permissionChecks.inc({ outcome: checked.decision.outcome, source: checked.source }, count)
    }
    return results
  }

  app.decorate('checkObject', checkObject)
  app.decorate('checkObjects', checkObjects)
  app.decorate('authorizeObject', async function authorizeObject (request: FastifyRequest, action: PermissionAction, object: ObjectRef) {
    const authorization = await checkObject(request, action, object)
    if (!authorization.allowed) throw authorization.problem
    return authorization
  })
}, { name: 'permissions', dependencies: ['config', 'metrics', 'request-logging', 'shared-state'] })
