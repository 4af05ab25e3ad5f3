/**
 * The load generator of bench/run.ts, in its own process (so the server under test keeps its
 * core): receives one job at a time over IPC, runs autocannon, answers with the figures.
 */
import autocannon, { type Request } from 'autocannon'

export interface LoadJob {
  url: string
  connections: number
  pipelining: number
  durationSeconds: number
  /** Cycled through by every connection (prebuilt, so autocannon does no work per request). */
  requests: Request[]
  /** Instead of `requests`: one POST whose body gets a key never used before (`${keyPrefix}${n}`). */
  uniqueKeys?: { path: string, headers: Record<string, string>, keyPrefix: string, /** POST /v1/batch with this many download items, each a new key. */ batchItems?: number }
}

export interface LoadResult {
  requestsPerSecond: number
  latencyMs: { p50: number, p99: number, max: number, mean: number }
  total: number
  ok: number
  non2xx: number
  errors: number
  timeouts: number
}

let counter = 0

function bodyFor ({ keyPrefix, batchItems }: NonNullable<LoadJob['uniqueKeys']>): string {
  if (batchItems === undefined) return `{"key":"${keyPrefix}${process.pid}-${++counter}"}`
  const batch = ++counter
  const items = Array.from({ length: batchItems }, (_, i) => `{"op":"download","key":"${keyPrefix}${process.pid}-${batch}/segment-${i}.ts"}`)
  return `{"items":[${items.join(',')}]}`
}

async function run (job: LoadJob): Promise<LoadResult> {
  const requests: Request[] = job.uniqueKeys === undefined
    ? job.requests
    : [{
        method: 'POST',
        path: job.uniqueKeys.path,
        headers: job.uniqueKeys.headers,
        setupRequest: (request) => ({ ...request, body: bodyFor(job.uniqueKeys as NonNullable<LoadJob['uniqueKeys']>) })
      }]
  const result = await autocannon({
    url: job.url,
    connections: job.connections,
    pipelining: job.pipelining,
    duration: job.durationSeconds,
    timeout: 10,
    requests
  })
  const ok = result['2xx']
  return {
    requestsPerSecond: ok / result.duration,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max, mean: result.latency.mean },
    total: result.requests.total,
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts
  }
}

process.on('message', (job: LoadJob) => {
  run(job).then(
    (result) => process.send?.({ result }),
    (error: unknown) => process.send?.({ error: String(error) })
  )
})
process.send?.({ ready: true })
