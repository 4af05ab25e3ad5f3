import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { createPermissionClient, type PermissionAction, type PermissionDecision } from './permission-client.js'
import { createCachingPermissionClient } from './decision-cache.js'
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

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Authorizes `action` on one object without throwing for a refusal: the bucket allow-list,
     * the revocations (./revocation-check.ts), then the permission decision, recorded in `request.audit` and the metrics. For routes
     * handling many objects (each item gets its own problem).
     */
    checkObject: (request: FastifyRequest, action: PermissionAction, object: ObjectRef) => Promise<Authorization>
    /** checkObject for single-object routes: returns the allowed authorization, throws the refusal's problem. */
    authorizeObject: (request: FastifyRequest, action: PermissionAction, object: ObjectRef) => Promise<Extract<Authorization, { allowed: true }>>
  }
}

/**
 * The one authorization step of every /v1 route: handlers validate, then authorize, then sign
 * or call storage. Fails closed: anything but a clear `allowed` is a refusal.
 */
export default fp(async function permissions (app) {
  const { cache, ...clientOptions } = app.config.permissions
  const { allowedBuckets, defaultBucket } = app.config.storage
  const { revocations, decisions } = app.sharedState
  // With Redis, decisions asked on any instance are reused on the others (behind the local LRU).
  const client = createCachingPermissionClient(createPermissionClient(clientOptions), { ...cache, shared: decisions })
  // A revocation drops every cached decision here (the shared store drops its own: src/shared-state/index.ts):
  // none from before it is reused once it is lifted. Revocations are rare; decisions are cheap to ask again.
  const stopWatching = revocations.onChange((change) => { if (change.type === 'created') client.forgetAll() })
  app.addHook('onClose', async () => {
    stopWatching()
    await client.close()
  })

  async function checkObject (request: FastifyRequest, action: PermissionAction, object: ObjectRef): Promise<Authorization> {
    const { key } = object
    const bucket = object.bucket ?? defaultBucket
    if (!allowedBuckets.has(bucket)) return { allowed: false, problem: new HttpProblem('BUCKET_NOT_ALLOWED') }

    const subject = request.user.sub
    Object.assign(request.audit, { subject, action, bucket, key })
    const revocation = checkRevocation(revocations, subject, bucket, key)
    if (revocation.unconfirmed) app.metrics.revocationUnavailable.inc({ action: revocation.refused ? 'refused' : 'allowed' })
    if (revocation.refused) {
      request.audit.permission = revocation.problem.code === 'REVOKED' ? 'revoked' : 'revocations unavailable'
      return { allowed: false, problem: revocation.problem }
    }
    const endTimer = app.metrics.permissionCheckDuration.startTimer()
    // No cached decision outlives the token: exp is a required, verified claim.
    const { decision, source } = await client.check(request.headers.authorization ?? '', { subject, action, bucket, key }, request.user.exp * 1000)
    if (source !== 'service') request.audit.permissionSource = source
    endTimer({ outcome: decision.outcome, source })
    app.metrics.permissionChecks.inc({ outcome: decision.outcome, source })
    request.audit.permission = decision.outcome === 'unavailable' ? `unavailable: ${decision.reason}` : decision.outcome
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

  app.decorate('checkObject', checkObject)
  app.decorate('authorizeObject', async function authorizeObject (request: FastifyRequest, action: PermissionAction, object: ObjectRef) {
    const authorization = await checkObject(request, action, object)
    if (!authorization.allowed) throw authorization.problem
    return authorization
  })
}, { name: 'permissions', dependencies: ['config', 'metrics', 'request-logging', 'shared-state'] })
