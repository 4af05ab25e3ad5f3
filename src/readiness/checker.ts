import { Agent } from 'undici'
import type { StorageConfig } from '../config/config.js'
import { createS3Requests, type S3Requests } from '../storage/s3-requests.js'
import { errorCode } from '../http/error-code.js'

/**
 * Readiness: can this instance produce URLs that work? Three checks, run together:
 *  - storage: HeadBucket on the default bucket with the configured credentials answers 200
 *    (403 = wrong credentials or no access; 404 = no such bucket);
 *  - permissions: the permission service answers HTTP at all. The probe is a HEAD without a
 *    token, so 401/403/404/405 are normal answers and prove it is up; a 5xx (typically a
 *    gateway whose upstream is down), a timeout or a connection error is "fail";
 *  - clock: storage's `Date` header is within maxClockSkewMs of the local clock. A skewed
 *    clock makes every URL wrong: expired on arrival, or "not yet valid" (R2/S3 reject
 *    requests signed more than 15 minutes off, and a URL's lifetime counts from our clock).
 * Results are cached for cacheMs, and concurrent probes share one in-flight check, so
 * probes never hammer the dependencies.
 */
export type CheckName = 'storage' | 'permissions' | 'clock'
/** `unknown`: could not be checked (the clock, when storage did not answer at all). */
export type CheckState = 'ok' | 'fail' | 'unknown'

export interface ReadinessReport {
  status: 'ready' | 'not_ready'
  checks: Record<CheckName, CheckState>
}

export interface ReadinessResult {
  report: ReadinessReport
  /** Why each failing check failed, for the log (never in the answer): statuses and error codes only. */
  reasons: Partial<Record<CheckName, string>>
}

export interface ReadinessOptions {
  storage: StorageConfig
  permissionsUrl: string
  /** Bound on each dependency probe. */
  timeoutMs: number
  /** How long a result is served before the dependencies are asked again. */
  cacheMs: number
  maxClockSkewMs: number
  /** The local clock (ms since the epoch); tests inject a skewed one. */
  now: () => number
}

export interface ReadinessChecker {
  check: () => Promise<ReadinessResult>
  close: () => void
}

interface ProbeResult { state: CheckState, reason?: string }

export function createReadinessChecker (options: ReadinessOptions): ReadinessChecker {
  const { storage, permissionsUrl, timeoutMs, cacheMs, maxClockSkewMs, now } = options
  let s3: S3Requests | undefined
  let agent: Agent | undefined
  let cached: { at: number, result: ReadinessResult } | undefined
  let inFlight: Promise<ReadinessResult> | undefined

  /** HeadBucket without the AWS SDK (src/storage/s3-requests.ts); one attempt: the next probe is the retry. */
  async function probeStorage (): Promise<{ storage: ProbeResult, clock: ProbeResult }> {
    // Created on the first probe: apps that are never probed (most tests) open nothing.
    s3 ??= createS3Requests(storage, { timeoutMs })
    let answer: { status: number, date?: string }
    try {
      const { status, headers } = await s3.send({ method: 'HEAD', bucket: storage.defaultBucket })
      answer = { status, date: typeof headers.date === 'string' ? headers.date : undefined }
    } catch (error) {
      return { storage: { state: 'fail', reason: storageErrorReason(error) }, clock: clockCheck(undefined) }
    }
    // Any answer carries storage's Date, a 403 or 404 too: the clock is checked either way.
    const storageResult: ProbeResult = answer.status >= 200 && answer.status < 300
      ? { state: 'ok' }
      : { state: 'fail', reason: headBucketStatusReason(answer.status) }
    return { storage: storageResult, clock: clockCheck(answer.date) }
  }

  function clockCheck (date: string | undefined): ProbeResult {
    const storageTime = date === undefined ? NaN : Date.parse(date)
    if (Number.isNaN(storageTime)) return { state: 'unknown', reason: 'no Date header from storage to compare with' }
    // Date has a resolution of one second: negligible next to the allowed skew.
    const skewMs = now() - storageTime
    if (Math.abs(skewMs) > maxClockSkewMs) {
      return { state: 'fail', reason: `local clock ${skewMs > 0 ? 'ahead of' : 'behind'} storage by ${Math.round(Math.abs(skewMs) / 1000)} s` }
    }
    return { state: 'ok' }
  }

  /** undici rather than fetch, like the permission client: fetch refuses some ports ("bad port") and follows redirects. */
  async function probePermissions (): Promise<ProbeResult> {
    agent ??= new Agent({ connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
    const url = new URL(permissionsUrl)
    const signal = AbortSignal.timeout(timeoutMs)
    try {
      const { statusCode, body } = await agent.request({ origin: url.origin, path: url.pathname + url.search, method: 'HEAD', signal })
      await body.dump().catch(() => {})
      return statusCode < 500 ? { state: 'ok' } : { state: 'fail', reason: `HTTP ${statusCode}` }
    } catch (error) {
      return { state: 'fail', reason: signal.aborted ? 'timeout' : `connection error (${errorCode(error)})` }
    }
  }

  async function run (): Promise<ReadinessResult> {
    const [{ storage: storageResult, clock }, permissions] = await Promise.all([probeStorage(), probePermissions()])
    const results: Record<CheckName, ProbeResult> = { storage: storageResult, permissions, clock }
    const checks = Object.fromEntries(Object.entries(results).map(([name, r]) => [name, r.state])) as Record<CheckName, CheckState>
    const reasons = Object.fromEntries(Object.entries(results).filter(([, r]) => r.reason !== undefined).map(([name, r]) => [name, r.reason]))
    const ready = Object.values(checks).every((state) => state === 'ok')
    return { report: { status: ready ? 'ready' : 'not_ready', checks }, reasons }
  }

  return {
    check () {
      if (cached !== undefined && performance.now() - cached.at < cacheMs) return Promise.resolve(cached.result)
      inFlight ??= run()
        .then((result) => {
          cached = { at: performance.now(), result }
          return result
        })
        .finally(() => { inFlight = undefined })
      return inFlight
    },
    close () {
      s3?.close().catch(() => {})
      s3 = undefined
      agent?.destroy().catch(() => {})
      agent = undefined
    }
  }
}

function headBucketStatusReason (status: number): string {
  const meaning = status === 403 ? ': credentials rejected or no access to the bucket' : status === 404 ? ': no such bucket' : ''
  return `HeadBucket answered HTTP ${status}${meaning}`
}

/** undici's own timeouts (connect, headers, body), besides the call's AbortSignal.timeout. */
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

/** No answer at all: a timeout, or a network error. */
function storageErrorReason (error: unknown): string {
  const name = (error as { name?: string }).name
  const code = errorCode(error)
  if (name === 'AbortError' || name === 'TimeoutError' || TIMEOUT_CODES.has(code)) return 'HeadBucket timed out'
  return `HeadBucket failed (${code})`
}
