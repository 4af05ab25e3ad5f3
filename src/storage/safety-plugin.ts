/**
 * Runs the storage self-test (./self-test.ts) at startup and every STORAGE_CHECK_INTERVAL_SECONDS,
 * holds its verdict, and gates writes on it: a route with `config: { writesObjects: true }` (upload
 * URLs, multipart create/part URLs/complete; a batch route asks `writeProblem()`/`assertWritable()`
 * per upload item) answers 503 STORAGE_UNSAFE while storage is not verified safe and
 * STORAGE_UNSAFE_HEADERS=refuse. Reads are never gated. With `warn`, writes go ahead; the verdict is
 * logged when it changes and every such write is counted (r2signer_unsafe_storage_writes_total).
 *
 * Before the first verdict, writes wait for it (at most S3_TIMEOUT_MS) rather than guess. A run
 * without a clear answer (storage unreachable) keeps the last clear verdict and is retried sooner.
 * docs/storage-safety.md explains the why and how to make a store safe.
 */
import fp from 'fastify-plugin'
import { HttpProblem } from '../http/problem.js'
import { createPresigner } from '../signing/presigner.js'
import { runStorageSelfTest, type StorageCheckName, type StorageSelfTestReport, type StorageVerdict } from './self-test.js'

declare module 'fastify' {
  interface FastifyInstance {
    storageSafety: StorageSafety
  }
  interface FastifyContextConfig {
    /** The route hands out a way to write objects: gated on the storage self-test. */
    writesObjects?: boolean
  }
}

export type SafetyVerdict = 'pending' | StorageVerdict

export interface StorageSafetyStatus {
  verdict: SafetyVerdict
  /** Whether write routes issue URLs now. */
  writes: 'allowed' | 'refused'
  mode: 'refuse' | 'warn'
  /** Gating checks storage failed in the last clear run. */
  failedChecks: StorageCheckName[]
  /** When the verdict was established. */
  checkedAt?: string
}

export interface StorageSafety {
  /** false: the self-test is off (BuildAppOptions.storageSelfTest) and nothing is gated. */
  enabled: boolean
  status: () => StorageSafetyStatus
  /** The latest full report (undefined before the first run ends). */
  report: () => StorageSelfTestReport | undefined
  /** The problem a write must answer now, if any (counts it); undefined: go ahead. */
  writeProblem: () => HttpProblem | undefined
  /** Waits (bounded) for the first verdict, then throws writeProblem() if there is one. */
  assertWritable: () => Promise<void>
  /** Runs the self-test now (joins a run in flight). */
  check: () => Promise<StorageSelfTestReport>
}

export interface StorageSafetyOptions {
  /** false: storage is never probed and writes are never gated (tests whose storage is a script or absent). */
  enabled?: boolean
}

/** After a run without a clear answer, the next one comes this soon (or at the interval, if sooner). */
export const UNKNOWN_RETRY_MS = 30_000
export const SAFETY_DOCS = 'docs/storage-safety.md'

const UNSAFE_DETAIL = 'Uploads are refused: storage does not enforce what upload URLs sign (it accepts x-amz-* headers they did not sign), ' +
  `so an upload URL could be used to copy or expose other objects. The operator must fix storage: see ${SAFETY_DOCS}.`
const UNVERIFIED_DETAIL = 'Uploads are paused until the storage self-test confirms that storage enforces what upload URLs sign ' +
  `(it has not finished, or could not reach storage); try again shortly. See ${SAFETY_DOCS}.`

export default fp<StorageSafetyOptions>(async function storageSafety (app, options) {
  const { storage, storageCheck } = app.config
  const mode = storageCheck.unsafeHeaders
  const enabled = options.enabled ?? true
  const metrics = app.metrics
  const presigner = createPresigner(storage)

  let verdict: SafetyVerdict = enabled ? 'pending' : 'safe'
  let clear: StorageSelfTestReport | undefined // last run with a safe/unsafe verdict
  let latest: StorageSelfTestReport | undefined
  let inFlight: Promise<StorageSelfTestReport> | undefined
  let timer: NodeJS.Timeout | undefined
  let nextCheckAt: number | undefined
  let closed = false
  const abort = new AbortController()
  let settleFirst: () => void = () => {}
  const firstVerdict = new Promise<void>((resolve) => { settleFirst = resolve })

  const setVerdict = (next: SafetyVerdict) => {
    for (const v of ['pending', 'safe', 'unsafe', 'unknown'] as const) metrics.storageSafety.set({ verdict: v }, v === next ? 1 : 0)
    verdict = next
  }
  if (enabled) setVerdict('pending')

  function writesAllowed (): boolean {
    return !enabled || verdict === 'safe' || mode === 'warn'
  }

  function status (): StorageSafetyStatus {
    return {
      verdict,
      writes: writesAllowed() ? 'allowed' : 'refused',
      mode,
      failedChecks: (clear?.checks ?? []).filter((c) => c.outcome === 'failed' && c.name !== 'if-none-match').map((c) => c.name),
      ...(clear !== undefined && { checkedAt: clear.checkedAt })
    }
  }

  function logRun (report: StorageSelfTestReport, previous: SafetyVerdict) {
    const checks = Object.fromEntries(report.checks.map((c) => [c.name, `${c.outcome}: ${c.reason}`]))
    const fields = { storageSelfTest: { verdict: report.verdict, bucket: report.bucket, durationMs: report.durationMs, checks } }
    if (report.canariesLeft !== 0) app.log.warn({ canariesLeft: report.canariesLeft }, 'storage self-test could not delete all its canary objects')
    if (report.verdict === previous) return
    if (report.verdict === 'safe') app.log.info(fields, 'storage self-test passed: storage enforces what upload URLs sign')
    else if (report.verdict === 'unsafe') {
      app.log.error(fields, mode === 'refuse'
        ? `storage self-test FAILED: storage honours what upload URLs do not sign; write requests are refused (503 STORAGE_UNSAFE), see ${SAFETY_DOCS}`
        : `storage self-test FAILED: storage honours what upload URLs do not sign; write URLs are issued anyway (STORAGE_UNSAFE_HEADERS=warn), see ${SAFETY_DOCS}`)
    } else app.log.warn(fields, 'storage self-test had no clear answer; it will be retried')
  }

  function schedule (report: StorageSelfTestReport) {
    if (closed) return
    const interval = storageCheck.intervalSeconds * 1000
    const delay = report.verdict === 'unknown' ? (interval > 0 ? Math.min(interval, UNKNOWN_RETRY_MS) : UNKNOWN_RETRY_MS) : interval
    if (delay === 0) {
      nextCheckAt = undefined
      return
    }
    nextCheckAt = Date.now() + delay
    timer = setTimeout(() => { check().catch(() => {}) }, delay)
    timer.unref()
  }

  function check (): Promise<StorageSelfTestReport> {
    inFlight ??= runStorageSelfTest({
      presigner,
      storage,
      bucket: storage.defaultBucket,
      prefix: storageCheck.prefix,
      timeoutMs: storage.timeoutMs,
      signal: abort.signal
    }).then((report) => {
      const previous = verdict
      latest = report
      metrics.storageSelfTests.inc({ verdict: report.verdict })
      // A run without a clear answer does not undo a clear one: storage's rules do not change with a network blip.
      if (report.verdict !== 'unknown' || clear === undefined) {
        if (report.verdict !== 'unknown') clear = report
        if (!closed) setVerdict(report.verdict)
      }
      logRun(report, previous)
      settleFirst()
      clearTimeout(timer)
      schedule(report)
      return report
    }).finally(() => { inFlight = undefined })
    return inFlight
  }

  function writeProblem (): HttpProblem | undefined {
    if (!enabled || verdict === 'safe') return undefined
    if (mode === 'warn') {
      if (verdict === 'unsafe' || verdict === 'unknown') metrics.unsafeStorageWrites.inc({ action: 'allowed' })
      return undefined
    }
    metrics.unsafeStorageWrites.inc({ action: 'refused' })
    const retryAfter = nextCheckAt === undefined ? (verdict === 'pending' ? 2 : undefined) : Math.max(1, Math.ceil((nextCheckAt - Date.now()) / 1000))
    const headers: Record<string, string> = retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) }
    return new HttpProblem('STORAGE_UNSAFE', verdict === 'unsafe' ? UNSAFE_DETAIL : UNVERIFIED_DETAIL, headers)
  }

  async function assertWritable (): Promise<void> {
    if (enabled && verdict === 'pending' && mode === 'refuse') {
      let timeout: NodeJS.Timeout | undefined
      await Promise.race([firstVerdict, new Promise<void>((resolve) => { timeout = setTimeout(resolve, storage.timeoutMs) })])
      clearTimeout(timeout)
    }
    const problem = writeProblem()
    if (problem !== undefined) throw problem
  }

  app.decorate('storageSafety', {
    enabled,
    status,
    report: () => latest,
    writeProblem,
    assertWritable,
    check: enabled ? check : () => Promise.reject(new Error('the storage self-test is disabled'))
  } satisfies StorageSafety)

  // The gate is added to the routes that write only (every other request skips a hook).
  const gateWrites = async (): Promise<void> => { await assertWritable() }
  app.addHook('onRoute', (route) => {
    if ((route.config as { writesObjects?: boolean } | undefined)?.writesObjects !== true) return
    const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler]
    route.preHandler = [gateWrites, ...existing]
  })

  if (enabled) {
    // Started once the app is ready, not awaited: startup does not depend on storage.
    app.addHook('onReady', async () => { check().catch((error: unknown) => app.log.error({ err: error }, 'storage self-test crashed')) })
    app.addHook('onClose', async () => {
      closed = true
      clearTimeout(timer)
      abort.abort()
      await inFlight?.catch(() => {})
    })
  }
}, { name: 'storage-safety', dependencies: ['config', 'metrics'] })
