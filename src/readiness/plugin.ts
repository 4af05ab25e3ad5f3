import fp from 'fastify-plugin'
import { createReadinessChecker, type ReadinessChecker, type ReadinessResult } from './checker.js'

declare module 'fastify' {
  interface FastifyInstance {
    readiness: ReadinessChecker
  }
}

export interface ReadinessPluginOptions {
  /** The local clock compared with storage's Date header (tests inject a skewed one). */
  now?: () => number
}

/** Each dependency probe gives up after this long: a probe must answer well within a check's timeout. */
export const READINESS_PROBE_TIMEOUT_MS = 2000
/** Probes within this window share one result. */
export const READINESS_CACHE_MS = 5000
/** Beyond this difference between our clock and storage's, URLs are wrong. */
export const MAX_CLOCK_SKEW_MS = 60_000

/** Decorates `app.readiness` (GET /readyz answers with it) and logs each change of readiness. */
export default fp<ReadinessPluginOptions>(async function readiness (app, options) {
  const checker = createReadinessChecker({
    storage: app.config.storage,
    permissionsUrl: app.config.permissions.url,
    timeoutMs: READINESS_PROBE_TIMEOUT_MS,
    cacheMs: READINESS_CACHE_MS,
    maxClockSkewMs: MAX_CLOCK_SKEW_MS,
    now: options.now ?? Date.now
  })

  let last: string | undefined
  const logChange = (result: ReadinessResult) => {
    const summary = JSON.stringify(result.report)
    if (summary === last) return
    last = summary
    if (result.report.status === 'ready') app.log.info({ readiness: result.report }, 'ready')
    else app.log.warn({ readiness: result.report, reasons: result.reasons }, 'not ready')
  }

  app.decorate('readiness', {
    check: async () => {
      const result = await checker.check()
      logChange(result)
      return result
    },
    close: checker.close
  } satisfies ReadinessChecker)
  app.addHook('onClose', async () => checker.close())
}, { name: 'readiness', dependencies: ['config'] })
