import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { createPermissionClient, type PermissionAction } from './permission-client.js'
import { createCachingPermissionClient, type DecisionSource } from './decision-cache.js'
import { HttpProblem } from '../http/problem.js'

/** What a request is about: filled in as soon as it is known, logged once per request. */
export interface AuditRecord {
  subject?: string
  action?: PermissionAction
  bucket?: string
  key?: string
  permission?: string
  /** Set when the decision was not asked for this request: a stored one (cache) or another request's (shared). */
  permissionSource?: Exclude<DecisionSource, 'service'>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Throws the right problem unless the permission service clearly allows `action` on bucket/key. */
    requirePermission: (request: FastifyRequest, action: PermissionAction, bucket: string, key: string) => Promise<void>
  }
  interface FastifyRequest {
    audit: AuditRecord
  }
}

/** Seconds a caller should wait before retrying after the permission service failed. */
const RETRY_AFTER_SECONDS = '2'

export default fp(async function permissions (app) {
  const { cache, ...clientOptions } = app.config.permissions
  const client = createCachingPermissionClient(createPermissionClient(clientOptions), cache)
  app.addHook('onClose', async () => { await client.close() })

  app.decorateRequest('audit', null as unknown as AuditRecord)
  app.addHook('onRequest', async (request) => {
    request.audit = {}
  })

  app.decorate('requirePermission', async function requirePermission (request: FastifyRequest, action: PermissionAction, bucket: string, key: string) {
    const subject = request.user.sub
    Object.assign(request.audit, { subject, action, bucket, key })
    const endTimer = app.metrics.permissionCheckDuration.startTimer()
    // No cached decision outlives the token: exp is a required, verified claim.
    const { decision, source } = await client.check(request.headers.authorization ?? '', { subject, action, bucket, key }, request.user.exp * 1000)
    if (source !== 'service') request.audit.permissionSource = source
    endTimer({ outcome: decision.outcome, source })
    app.metrics.permissionChecks.inc({ outcome: decision.outcome, source })
    request.audit.permission = decision.outcome === 'unavailable' ? `unavailable: ${decision.reason}` : decision.outcome
    switch (decision.outcome) {
      case 'allowed':
        return
      case 'denied':
        throw new HttpProblem('PERMISSION_DENIED', `Not allowed to ${action} this object.`)
      case 'unauthenticated':
        throw new HttpProblem('UNAUTHORIZED', 'The permission service did not accept the token.', { 'www-authenticate': 'Bearer realm="r2-signer", error="invalid_token"' })
      case 'unavailable':
        throw new HttpProblem('PERMISSION_SERVICE_UNAVAILABLE', 'The permission service could not be asked; try again shortly.', { 'retry-after': RETRY_AFTER_SECONDS })
    }
  })
}, { name: 'permissions', dependencies: ['config', 'metrics'] })
