import fp from 'fastify-plugin'
import { UNMATCHED_ROUTE } from '../http/request-logging.js'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

/**
 * Prometheus metrics. Every app instance has its own Registry (tests build many
 * apps in one process; nothing is registered in prom-client's global registry).
 * Process metrics (CPU, memory, event loop lag, GC) describe the process, not an
 * app, so they are collected once per process and merged into every scrape.
 *
 * Labels are bounded: route templates (never raw paths), methods, statuses,
 * signing operations and permission outcomes. No subject, key or bucket.
 */
export interface Metrics {
  registry: Registry
  httpRequestDuration: Histogram<'method' | 'route' | 'status'>
  signedUrls: Counter<'operation'>
  /** Items of POST /v1/batch by op (download, upload) and outcome (signed, refused). */
  batchItems: Counter<'op' | 'outcome'>
  permissionChecks: Counter<'outcome' | 'source'>
  permissionCheckDuration: Histogram<'outcome' | 'source'>
  /** 1 for the storage self-test's current verdict (pending, safe, unsafe, unknown), 0 for the others. */
  storageSafety: Gauge<'verdict'>
  storageSelfTests: Counter<'verdict'>
  /** Write requests while storage is not verified safe: refused, or allowed (STORAGE_UNSAFE_HEADERS=warn). */
  unsafeStorageWrites: Counter<'action'>
  /** Requests refused with 429, by limit (urls, unauthenticated). */
  rateLimited: Counter<'limit'>
  /** Rate-limit decisions allowed without asking Redis because it was unavailable, by limit. */
  rateLimitFailOpen: Counter<'limit'>
  /** URL requests met while the revocations could not be confirmed current: refused (503) or allowed (REVOCATION_FAIL_OPEN). */
  revocationUnavailable: Counter<'action'>
  /** Shared-decision reads or writes that failed (Redis unavailable); the local cache carried on. */
  sharedDecisionFailures: Counter
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

/** Signing is microseconds, a request is dominated by the permission check: 1 ms .. 10 s. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

let processRegistry: Registry | undefined

/** One registry of default metrics per process (their collectors hook process-wide observers). */
function processMetrics (): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

export function createMetrics (): Metrics {
  const registry = new Registry()
  return {
    registry,
    httpRequestDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP requests by method, route template and status, with their duration.',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry]
    }),
    signedUrls: new Counter({
      name: 'r2signer_signed_urls_total',
      help: 'Presigned URLs issued, by S3 operation.',
      labelNames: ['operation'] as const,
      registers: [registry]
    }),
    batchItems: new Counter({
      name: 'r2signer_batch_items_total',
      help: 'Items of POST /v1/batch, by op (download, upload; an item without a valid op counts as download) and outcome (signed, refused).',
      labelNames: ['op', 'outcome'] as const,
      registers: [registry]
    }),
    permissionChecks: new Counter({
      name: 'r2signer_permission_checks_total',
      help: 'Permission checks by outcome (allowed, denied, unauthenticated, unavailable) and source (service: asked; cache: a stored decision; shared: joined an identical check in flight; peer: a decision another instance asked for, from Redis).',
      labelNames: ['outcome', 'source'] as const,
      registers: [registry]
    }),
    permissionCheckDuration: new Histogram({
      name: 'r2signer_permission_check_duration_seconds',
      help: 'Duration of permission checks, by outcome and source (cache hits take microseconds, service calls milliseconds).',
      labelNames: ['outcome', 'source'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry]
    }),
    storageSafety: new Gauge({
      name: 'r2signer_storage_safety',
      help: 'The storage self-test verdict: 1 for the current one (pending, safe, unsafe: storage honours what upload URLs do not sign, unknown: no clear answer), 0 for the others.',
      labelNames: ['verdict'] as const,
      registers: [registry]
    }),
    storageSelfTests: new Counter({
      name: 'r2signer_storage_self_tests_total',
      help: 'Storage self-test runs, by verdict.',
      labelNames: ['verdict'] as const,
      registers: [registry]
    }),
    unsafeStorageWrites: new Counter({
      name: 'r2signer_unsafe_storage_writes_total',
      help: 'Write requests (upload URLs, multipart) while storage was not verified safe: refused (STORAGE_UNSAFE_HEADERS=refuse) or allowed (warn).',
      labelNames: ['action'] as const,
      registers: [registry]
    }),
    rateLimited: new Counter({
      name: 'r2signer_rate_limited_total',
      help: 'Requests refused with 429 RATE_LIMITED, by limit (urls: per subject; unauthenticated: failed authentications per client address).',
      labelNames: ['limit'] as const,
      registers: [registry]
    }),
    rateLimitFailOpen: new Counter({
      name: 'r2signer_rate_limit_fail_open_total',
      help: 'Rate-limit decisions allowed without Redis because it was unavailable (rate limits fail open), by limit.',
      labelNames: ['limit'] as const,
      registers: [registry]
    }),
    revocationUnavailable: new Counter({
      name: 'r2signer_revocation_unavailable_total',
      help: 'Requests met while the revocations could not be confirmed current (Redis unavailable): refused with 503 REVOCATION_UNAVAILABLE, or allowed from the last known copy (REVOCATION_FAIL_OPEN=true).',
      labelNames: ['action'] as const,
      registers: [registry]
    }),
    sharedDecisionFailures: new Counter({
      name: 'r2signer_shared_decision_failures_total',
      help: 'Reads or writes of shared permission decisions that failed (Redis unavailable); the local cache and the permission service carried on.',
      registers: [registry]
    })
  }
}

/** The text exposition of the process metrics and the app's own, for GET /metrics (src/routes/metrics.ts). */
export async function scrape (metrics: Metrics): Promise<{ contentType: string, text: string }> {
  const merged = Registry.merge([processMetrics(), metrics.registry])
  return { contentType: merged.contentType, text: await merged.metrics() }
}

export default fp(async function metricsPlugin (app) {
  const metrics = createMetrics()
  app.decorate('metrics', metrics)

  // Callback-style: an async hook would cost a promise per request for work that never waits.
  app.addHook('onResponse', (request, reply, done) => {
    metrics.httpRequestDuration.observe({
      method: request.method,
      // The route template keeps cardinality bounded: unknown paths all count as "unmatched".
      route: request.routeOptions.url ?? UNMATCHED_ROUTE,
      status: String(reply.statusCode)
    }, reply.elapsedTime / 1000)
    done()
  })
}, { name: 'metrics' })
