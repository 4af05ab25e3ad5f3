import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import { LogController, type FastifyServerOptions } from 'fastify'
import type { PermissionAction } from '../permissions/permission-client.js'
import type { DecisionSource } from '../permissions/decision-cache.js'

/** A caller's X-Request-Id is kept when it is a plain token; anything else gets a fresh UUID. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** The route label of a request no route matched (also the metrics' label). */
export const UNMATCHED_ROUTE = 'unmatched'

/** What a request is about: filled in as soon as it is known (src/permissions/plugin.ts), logged once per request. */
export interface AuditRecord {
  subject?: string
  action?: PermissionAction
  bucket?: string
  key?: string
  permission?: string
  /** Set when the decision was not asked for this request: a stored one (cache) or another request's (shared). */
  permissionSource?: Exclude<DecisionSource, 'service'>
  /** POST /v1/batch: how many items, and how many were signed, denied (403) or failed otherwise. Never a key or URL. */
  batch?: { items: number, signed: number, denied: number, failed: number }
}

declare module 'fastify' {
  interface FastifyRequest {
    audit: AuditRecord
  }
}

export const requestIdOptions = (): Pick<FastifyServerOptions, 'genReqId' | 'logController'> => ({
  genReqId: (request) => {
    const given = request.headers['x-request-id']
    return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
  },
  // Fastify's two default lines per request are replaced by the one line below.
  logController: new LogController({ requestIdLogLabel: 'requestId', disableRequestLogging: true })
})

/**
 * One log line per request: request id, subject, action, bucket, key, status and
 * duration. Never the Authorization header, the body, or a signed URL.
 */
export default fp(async function requestLogging (app) {
  app.decorateRequest('audit', null as unknown as AuditRecord)
  // Callback-style hooks, here and in the other per-request hooks: an async hook costs a promise
  // and a microtask on every request, for work that never waits.
  app.addHook('onRequest', (request, _reply, done) => {
    request.audit = {}
    done()
  })

  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id)
    // Answers may carry a signed URL: no shared cache may keep them.
    reply.header('cache-control', 'no-store')
    done(null, payload)
  })

  app.addHook('onResponse', (request, reply, done) => {
    request.log.info({
      method: request.method,
      route: request.routeOptions.url ?? UNMATCHED_ROUTE,
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 100) / 100,
      ...request.audit
    }, 'request completed')
    done()
  })
}, { name: 'request-logging' })
