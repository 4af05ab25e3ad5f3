/**
 * `npm run bench`: throughput of r2-signer as ratios to a baseline measured in the same run.
 *
 * Processes: this one (orchestrator + the permission-service stub), two servers under test
 * (bench/server.ts: the real app, and a hello-world Fastify configured the same way), and the
 * load generator (bench/load.ts, autocannon) in its own process so the server keeps a core.
 * No storage is needed: signing makes no storage call.
 *
 * Phases, alternated round by round (the order rotates so none always goes first):
 *  - hello:    GET /hello on the baseline instance
 *  - hello-shaped: the baseline instance answering the cached route's exchange (a POST with a token and
 *              a JSON key, a signed-URL-sized answer, cache-control: no-store) with none of its work:
 *              the floor of HTTP, parsing, serializing and logging at that size
 *  - cached:   POST /v1/download-urls, 16 users × 8 keys, the stub answers `private, max-age=300`
 *              (after warm-up every decision comes from the cache)
 *  - uncached: POST /v1/download-urls with a key never seen before, the stub answers `no-store`
 *              (one permission call per request; with PERMISSIONS_BATCH_URL, concurrent checks
 *              may share one batch call)
 *  - unbatched: uncached on a second app without PERMISSIONS_BATCH_URL: one round trip per check
 *              (what micro-batching saves, in the same run)
 *  - batch:    POST /v1/batch with BENCH_BATCH_ITEMS (1000) download items, keys never seen before,
 *              decided by the stub's batch endpoint (PERMISSIONS_BATCH_URL): one round trip per
 *              batch; BENCH_BATCH_CONNECTIONS (4) batches in flight. Reported as URLs/s against the
 *              uncached single route's URLs/s of the same round
 *  - cached-redis: as cached, on a second app instance with REDIS_URL (a local redis-server started
 *    for the run): rate limits, revocations and shared decisions through Redis
 * then the signer alone vs the SDK's getSignedUrl, in-process (bench/signer-measure.ts).
 *
 * Reports medians over rounds: req/s, p50/p99 latency, peak RSS of the server under test, each
 * ratio to the hello baseline of the same round, and permission calls per request (checks that
 * the cache worked, and that "uncached" really was). Writes bench/results/bench-<time>.json.
 *
 * Knobs (environment): BENCH_DURATION (s per measurement, 5), BENCH_ROUNDS (3), BENCH_WARMUP
 * (s, 2), BENCH_CONNECTIONS (100), BENCH_PIPELINING (1), BENCH_JWT (ES256 | RS256 | EdDSA |
 * HS256; ES256), BENCH_PHASES (hello,cached,uncached,cached-redis), BENCH_SIGNER_ROUNDS (9), BENCH_SIGNER_MS
 * (300), BENCH_APP_ENV (JSON merged into the app's environment), BENCH_NODE_ARGS (node flags for
 * the servers; by default the Dockerfile CMD's, e.g. its heap limit; '' for none; the servers also get the
 * Dockerfile's ENV MALLOC_* settings unless the environment sets them), BENCH_CPU_PROF=1 (after the
 * rounds, one more run of each phase with the server under V8's sampling profiler: profiles in
 * bench/results/profiles/, CPU µs per request by area printed side by side), BENCH_HELLO_SPIN_US (busy wait
 * per hello-shaped request, a diagnostic; see bench/server.ts). Quick run:
 *   BENCH_DURATION=2 BENCH_ROUNDS=1 BENCH_WARMUP=1 npm run bench
 */
import { fork, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createSigner } from 'fast-jwt'
import { buildBenchServer } from './build.js'
import type { LoadJob, LoadResult } from './load.js'
import { summariseProfile, type ProfileSummary } from './profile-summary.js'
import { measureSigner, median, type SignerResult } from './signer-measure.js'
import { startRedis, stopRedis } from '../test/storage/redis.js'

const env = process.env
const num = (name: string, fallback: number): number => {
  const value = Number(env[name] ?? fallback)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`)
  return value
}
const DURATION = num('BENCH_DURATION', 5)
const ROUNDS = Math.round(num('BENCH_ROUNDS', 3))
const WARMUP = num('BENCH_WARMUP', 2)
const CONNECTIONS = Math.round(num('BENCH_CONNECTIONS', 100))
const PIPELINING = Math.round(num('BENCH_PIPELINING', 1))
const ALG = (env.BENCH_JWT ?? 'ES256') as 'ES256' | 'RS256' | 'EdDSA' | 'HS256'
const SIGNER_ROUNDS = Math.round(num('BENCH_SIGNER_ROUNDS', 9))
const SIGNER_MS = num('BENCH_SIGNER_MS', 300)
const CPU_PROF = env.BENCH_CPU_PROF === '1'
const BATCH_ITEMS = Math.round(num('BENCH_BATCH_ITEMS', 1000))
const BATCH_CONNECTIONS = Math.round(num('BENCH_BATCH_CONNECTIONS', 4))
const ALL_PHASES = ['hello', 'hello-shaped', 'cached', 'uncached', 'unbatched', 'batch', 'cached-redis'] as const
type Phase = (typeof ALL_PHASES)[number]
const PHASES = (env.BENCH_PHASES ?? ALL_PHASES.join(',')).split(',').map((p) => p.trim()) as Phase[]
if (PHASES.some((p) => !ALL_PHASES.includes(p))) throw new Error(`BENCH_PHASES: one or more of ${ALL_PHASES.join(', ')}`)

const TARGETS = { cachedRatio: 0.45, cachedRedisRatio: 0.40, uncachedRatio: 0.30, signerRatio: 30, p99Ms: 50, rssMb: 200, batchUrlsPerSecond: 50_000, batchRatio: 10, batchP99Ms: 100 }

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const RESULTS = join(ROOT, 'bench', 'results')
const PROFILES = join(RESULTS, 'profiles')
const runId = new Date().toISOString().replace(/[:.]/g, '-')
const logDir = join(tmpdir(), `r2-signer-bench-${runId}`)
mkdirSync(logDir, { recursive: true })
// The servers under test run compiled JavaScript on plain node, as in production.
const serverScript = buildBenchServer(ROOT)

// --- tokens ---------------------------------------------------------------------------------

function keysFor (alg: typeof ALG): { appEnv: Record<string, string>, signingKey: string } {
  if (alg === 'HS256') {
    const secret = randomBytes(32).toString('hex')
    return { appEnv: { JWT_SECRET: secret }, signingKey: secret }
  }
  const pair = alg === 'RS256'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('ed25519')
  return {
    appEnv: { JWT_PUBLIC_KEY: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() },
    signingKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  }
}

const { appEnv: jwtEnv, signingKey } = keysFor(ALG)
const sign = createSigner({ key: signingKey, algorithm: ALG })
const now = Math.floor(Date.now() / 1000)
const tokens = Array.from({ length: 16 }, (_, i) => sign({ sub: `user-${i}`, iat: now, exp: now + 3600, scope: 'media:read' }))

// --- the permission-service stub (in this process) -----------------------------------------

let permissionCalls = 0
const CACHED_BODY = '{"allowed":true}'
const stub = createServer((req, res) => {
  let body = ''
  req.setEncoding('utf8')
  req.on('data', (chunk: string) => { body += chunk })
  req.on('end', () => {
    permissionCalls++
    if (req.url === '/batch') {
      // Every check allowed, none reusable: counting the checks is all the stub needs to parse.
      const checks = body.split('"subject":').length - 1
      const answer = `{"results":[${Array.from({ length: checks }, () => CACHED_BODY).join(',')}]}`
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer), 'cache-control': 'no-store' }).end(answer)
      return
    }
    const cacheable = body.includes('"key":"cached/')
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': CACHED_BODY.length,
      'cache-control': cacheable ? 'private, max-age=300' : 'no-store'
    }).end(CACHED_BODY)
  })
})
await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve))
const permissionsUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}/check`
const permissionsBatchUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}/batch`

// --- child processes ------------------------------------------------------------------------

/**
 * The node flags of the image's exec-form CMD (Dockerfile: `node <flags> dist/server.js`): the servers
 * under test run as deployed, heap limits included, unless BENCH_NODE_ARGS says otherwise.
 */
function imageNodeFlags (): string[] {
  const cmd = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').split('\n').filter((line) => line.startsWith('CMD ')).at(-1)
  const args = JSON.parse(cmd?.slice(4) ?? '[]') as string[]
  return args.slice(1, -1)
}
const NODE_FLAGS = env.BENCH_NODE_ARGS === undefined ? imageNodeFlags() : env.BENCH_NODE_ARGS.split(' ').filter(Boolean)

/**
 * The image's glibc allocator settings (Dockerfile `ENV MALLOC_…=…`, e.g. MALLOC_ARENA_MAX): part of
 * the deployed process's memory footprint, so the servers under test get them too. The bench's own
 * environment wins (MALLOC_ARENA_MAX=8 npm run bench measures without the image's setting).
 */
function imageMallocEnv (): Record<string, string> {
  const lines = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').split('\n').filter((line) => line.startsWith('ENV '))
  return Object.fromEntries(lines.flatMap((line) => [...line.matchAll(/\b(MALLOC_[A-Z_]+)=(\S+)/g)].map(([, name, value]) => [name as string, value as string])))
}
const MALLOC_ENV = imageMallocEnv()
/** The MALLOC_* variables the servers actually run with (the image's, or the bench's own). */
function serverMallocSettings (): string {
  const merged: Record<string, string | undefined> = { ...MALLOC_ENV, ...env }
  return Object.keys(merged).filter((name) => name.startsWith('MALLOC_')).sort().map((name) => `${name}=${merged[name] ?? ''}`).join(' ')
}

const children: ChildProcess[] = []
process.on('exit', () => { for (const child of children) if (child.exitCode === null) child.kill() })
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130))

function once<T> (child: ChildProcess, predicate: (message: T) => boolean): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: T) => {
      if (!predicate(message)) return
      child.off('message', onMessage)
      child.off('exit', onExit)
      resolve(message)
    }
    const onExit = (code: number | null) => reject(new Error(`child ${child.pid ?? ''} exited (${code ?? 'signal'})`))
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

interface Server { role: 'app' | 'hello' | 'app-redis', name: string, child: ChildProcess, address: string, logFile: string }

/** `name`: the label in the report; `unbatched`: the app without PERMISSIONS_BATCH_URL (no micro-batching); `appEnv`: more of the app's environment. */
async function startServer (role: Server['role'], { name = role as string, unbatched = false, appEnv = {} as Record<string, string> } = {}): Promise<Server> {
  const logFile = join(logDir, `${name}.log`)
  const child = fork(serverScript, [], {
    execArgv: NODE_FLAGS,
    env: {
      ...MALLOC_ENV,
      ...env,
      BENCH_ROLE: role === 'hello' ? 'hello' : 'app',
      BENCH_LOG_FILE: logFile,
      BENCH_APP_ENV: JSON.stringify({
        S3_ENDPOINT: 'https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com',
        S3_ACCESS_KEY_ID: '0123456789abcdef0123456789abcdef',
        S3_SECRET_ACCESS_KEY: 'f'.repeat(64),
        S3_BUCKET: 'media',
        PERMISSIONS_URL: permissionsUrl,
        ...(!unbatched && { PERMISSIONS_BATCH_URL: permissionsBatchUrl }),
        // The limiter runs on every request (locally, or through Redis), but never refuses: 16 users
        // at tens of thousands of requests per second would be over any real limit.
        RATE_LIMIT_URLS_PER_MINUTE: '1000000000',
        ...jwtEnv,
        ...appEnv,
        ...JSON.parse(env.BENCH_APP_ENV ?? '{}') as Record<string, string>
      })
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  children.push(child)
  const { address } = await once<{ type: string, address: string }>(child, (m) => m.type === 'ready')
  return { role, name, child, address, logFile }
}

/** Peak RSS and CPU time (user + system, µs) of the server since the previous call. */
async function serverStats (server: Server): Promise<{ rss: number, memory: NodeJS.MemoryUsage, cpuMicros: number }> {
  const reply = once<{ type: string, rss: number, memory: NodeJS.MemoryUsage, cpuMicros: number }>(server.child, (m) => m.type === 'peak')
  server.child.send({ type: 'peak' })
  return await reply
}

async function stopServer (server: Server): Promise<number> {
  const reply = once<{ type: string, maxRss: number }>(server.child, (m) => m.type === 'stopped')
  server.child.send({ type: 'stop' })
  const { maxRss } = await reply
  await new Promise((resolve) => server.child.exitCode === null ? server.child.once('exit', resolve) : resolve(undefined))
  return maxRss
}

const loader = fork(join(ROOT, 'bench', 'load.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
children.push(loader)
await once<{ ready?: boolean }>(loader, (m) => m.ready === true)

async function load (job: LoadJob): Promise<LoadResult> {
  const reply = once<{ result?: LoadResult, error?: string }>(loader, (m) => 'result' in m || 'error' in m)
  loader.send(job)
  const { result, error } = await reply
  if (result === undefined) throw new Error(`load generator: ${error ?? 'no result'}`)
  return result
}

// --- phases ---------------------------------------------------------------------------------

const redis = PHASES.includes('cached-redis') ? await startRedis() : undefined
const [hello, app, appRedis, unbatchedApp] = await Promise.all([
  PHASES.some((p) => p === 'hello' || p === 'hello-shaped') ? startServer('hello') : undefined,
  PHASES.some((p) => p === 'cached' || p === 'uncached' || p === 'batch') ? startServer('app') : undefined,
  redis !== undefined ? startServer('app-redis', { appEnv: { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `bench-${runId}:` } }) : undefined,
  PHASES.includes('unbatched') ? startServer('app', { name: 'app-unbatched', unbatched: true }) : undefined
])

const json = { 'content-type': 'application/json' }
const cachedRequests = tokens.flatMap((token, u) => Array.from({ length: 8 }, (_, k) => ({
  method: 'POST',
  path: '/v1/download-urls',
  headers: { ...json, authorization: `Bearer ${token}` },
  body: JSON.stringify({ key: `cached/user-${u}/video-${k}.mp4` })
})))

function jobFor (phase: Phase, durationSeconds: number): { server: Server, job: LoadJob } {
  const base = { connections: CONNECTIONS, pipelining: PIPELINING, durationSeconds }
  switch (phase) {
    case 'hello':
      return { server: hello as Server, job: { ...base, url: (hello as Server).address, requests: [{ method: 'GET', path: '/hello' }] } }
    case 'hello-shaped':
      return { server: hello as Server, job: { ...base, url: (hello as Server).address, requests: cachedRequests.map((r) => ({ ...r, path: '/hello-shaped' })) } }
    case 'cached':
      return { server: app as Server, job: { ...base, url: (app as Server).address, requests: cachedRequests } }
    case 'cached-redis':
      return { server: appRedis as Server, job: { ...base, url: (appRedis as Server).address, requests: cachedRequests } }
    case 'uncached':
      return {
        server: app as Server,
        job: {
          ...base,
          url: (app as Server).address,
          requests: [],
          // A fresh key per request: no cache hit and no shared in-flight check, one call each.
          uniqueKeys: { path: '/v1/download-urls', headers: { ...json, authorization: `Bearer ${tokens[0] as string}` }, keyPrefix: 'uncached/' }
        }
      }
    case 'unbatched':
      return {
        server: unbatchedApp as Server,
        job: {
          ...base,
          url: (unbatchedApp as Server).address,
          requests: [],
          uniqueKeys: { path: '/v1/download-urls', headers: { ...json, authorization: `Bearer ${tokens[0] as string}` }, keyPrefix: 'unbatched/' }
        }
      }
    case 'batch':
      return {
        server: app as Server,
        job: {
          ...base,
          connections: BATCH_CONNECTIONS,
          url: (app as Server).address,
          requests: [],
          uniqueKeys: { path: '/v1/batch', headers: { ...json, authorization: `Bearer ${tokens[1] as string}` }, keyPrefix: 'batch/', batchItems: BATCH_ITEMS }
        }
      }
  }
}

interface Measurement extends LoadResult {
  phase: Phase
  round: number
  peakRssBytes: number
  /** process.memoryUsage() when the RSS peaked (MB): heap vs the rest. */
  memoryAtPeakMb: Record<string, number>
  /** CPU time (user + system) the server process used per request: unaffected by other processes' load. */
  serverCpuMicrosPerRequest: number
  permissionCallsPerRequest: number
  /** URLs issued per second: req/s × the items of a batch (1 for the single routes). */
  urlsPerSecond: number
}

async function measure (phase: Phase, round: number, durationSeconds: number): Promise<Measurement> {
  const { server, job } = jobFor(phase, durationSeconds)
  await serverStats(server) // reset the peak and the CPU counter
  const callsBefore = permissionCalls
  const result = await load(job)
  const { rss, memory, cpuMicros } = await serverStats(server)
  const m = {
    phase,
    round,
    ...result,
    peakRssBytes: rss,
    memoryAtPeakMb: Object.fromEntries(Object.entries(memory).map(([k, v]) => [k, Number(mb(v))])),
    serverCpuMicrosPerRequest: cpuMicros / Math.max(1, result.total),
    permissionCallsPerRequest: (permissionCalls - callsBefore) / Math.max(1, result.total),
    urlsPerSecond: result.requestsPerSecond * (phase === 'batch' ? BATCH_ITEMS : phase === 'hello' || phase === 'hello-shaped' ? 0 : 1)
  }
  const flag = m.non2xx + m.errors + m.timeouts > 0 ? `  !! non2xx=${m.non2xx} errors=${m.errors} timeouts=${m.timeouts}` : ''
  console.log(`  ${round === -1 ? 'warm-up ' : round === -2 ? 'profiled' : `round ${round + 1} `} ${phase.padEnd(12)} ${fmt(m.requestsPerSecond).padStart(7)} req/s  p50 ${m.latencyMs.p50} ms  p99 ${m.latencyMs.p99} ms  rss ${mb(m.peakRssBytes)} MB (heap ${m.memoryAtPeakMb.heapTotal}${m.memoryAtPeakMb.retainedHeap === undefined ? '' : `, ${m.memoryAtPeakMb.retainedHeap} after GC`}) cpu ${m.serverCpuMicrosPerRequest.toFixed(0)} µs/req  checks/req ${m.permissionCallsPerRequest.toFixed(3)}${flag}`)
  return m
}

const fmt = (x: number): string => Math.round(x).toLocaleString('en-US')
const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1)

console.log(`r2-signer bench: node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${ALG} tokens, ` +
  `${CONNECTIONS} connections, pipelining ${PIPELINING}, ${ROUNDS} rounds × ${DURATION} s, warm-up ${WARMUP} s, server flags: ${NODE_FLAGS.join(' ') || 'none'}, allocator: ${serverMallocSettings() || 'glibc defaults'}`)

for (const phase of PHASES) await measure(phase, -1, WARMUP)
const measurements: Measurement[] = []
for (let round = 0; round < ROUNDS; round++) {
  const order = PHASES.map((_, i) => PHASES[(i + round) % PHASES.length] as Phase)
  for (const phase of order) measurements.push(await measure(phase, round, DURATION))
}

// Profiles come from an extra run per phase: the sampling profiler slows the server a little.
const profiles: Partial<Record<Phase, { file: string, requests: number, summary: ProfileSummary }>> = {}
if (CPU_PROF) {
  mkdirSync(PROFILES, { recursive: true })
  for (const phase of PHASES) {
    const { server } = jobFor(phase, DURATION)
    const file = join(PROFILES, `${runId}-${phase}.cpuprofile`)
    const started = once<{ type: string }>(server.child, (m) => m.type === 'profiled')
    server.child.send({ type: 'profile', action: 'start' })
    await started
    const m = await measure(phase, -2, DURATION)
    const stopped = once<{ type: string }>(server.child, (m) => m.type === 'profiled')
    server.child.send({ type: 'profile', action: 'stop', file })
    await stopped
    profiles[phase] = { file: file.slice(ROOT.length), requests: m.total, summary: summariseProfile(file, 40).data }
  }
}

const processMaxRss: Record<string, number> = {}
const logBytes: Record<string, number> = {}
for (const server of [hello, app, appRedis, unbatchedApp]) {
  if (server === undefined) continue
  processMaxRss[server.name] = await stopServer(server)
  logBytes[server.name] = statSync(server.logFile).size
}
if (redis !== undefined) await stopRedis(redis)
loader.kill()
await new Promise<void>((resolve) => stub.close(() => resolve()))
rmSync(logDir, { recursive: true, force: true })

// --- signer ---------------------------------------------------------------------------------

console.log(`  signer: ${SIGNER_ROUNDS} rounds × ${SIGNER_MS} ms, in-process`)
const signer: SignerResult = await measureSigner({ rounds: SIGNER_ROUNDS, ms: SIGNER_MS, seed: 1 })

// --- report ---------------------------------------------------------------------------------

interface PhaseSummary {
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  worstP99Ms: number
  peakRssMb: number
  serverCpuMicrosPerRequest: number
  permissionCallsPerRequest: number
  ratioToHello?: number
  /** hello's CPU per request / this phase's: the throughput ratio if the server were the only busy process. */
  cpuRatioToHello?: number
  ratioPerRound?: number[]
  urlsPerSecond: number
  /** batch: URLs/s ÷ the uncached single route's URLs/s, per round (median). */
  urlsRatioToSingle?: number
  /** batch: the same against the single route without micro-batching (one round trip per check). */
  urlsRatioToUnbatched?: number
  failedRequests: number
}

const summary: Partial<Record<Phase, PhaseSummary>> = {}
for (const phase of PHASES) {
  const ms = measurements.filter((m) => m.phase === phase)
  const ratios = phase === 'hello' || !PHASES.includes('hello')
    ? undefined
    : ms.map((m) => m.requestsPerSecond / (measurements.find((h) => h.phase === 'hello' && h.round === m.round) as Measurement).requestsPerSecond)
  summary[phase] = {
    requestsPerSecond: median(ms.map((m) => m.requestsPerSecond)),
    p50Ms: median(ms.map((m) => m.latencyMs.p50)),
    p99Ms: median(ms.map((m) => m.latencyMs.p99)),
    worstP99Ms: Math.max(...ms.map((m) => m.latencyMs.p99)),
    peakRssMb: Number(mb(Math.max(...ms.map((m) => m.peakRssBytes)))),
    serverCpuMicrosPerRequest: median(ms.map((m) => m.serverCpuMicrosPerRequest)),
    permissionCallsPerRequest: median(ms.map((m) => m.permissionCallsPerRequest)),
    ...(ratios !== undefined && { ratioToHello: median(ratios), ratioPerRound: ratios }),
    ...(ratios !== undefined && {
      cpuRatioToHello: median(ms.map((m) => (measurements.find((h) => h.phase === 'hello' && h.round === m.round) as Measurement).serverCpuMicrosPerRequest / m.serverCpuMicrosPerRequest))
    }),
    urlsPerSecond: median(ms.map((m) => m.urlsPerSecond)),
    ...(phase === 'batch' && PHASES.includes('uncached') && {
      urlsRatioToSingle: median(ms.map((m) => m.urlsPerSecond / (measurements.find((u) => u.phase === 'uncached' && u.round === m.round) as Measurement).urlsPerSecond))
    }),
    ...(phase === 'batch' && PHASES.includes('unbatched') && {
      urlsRatioToUnbatched: median(ms.map((m) => m.urlsPerSecond / (measurements.find((u) => u.phase === 'unbatched' && u.round === m.round) as Measurement).urlsPerSecond))
    }),
    failedRequests: ms.reduce((sum, m) => sum + m.non2xx + m.errors + m.timeouts, 0)
  }
}

const checks: Array<{ target: string, value: number | undefined, pass: boolean | undefined }> = []
const check = (target: string, value: number | undefined, pass: (v: number) => boolean) =>
  checks.push({ target, value, pass: value === undefined ? undefined : pass(value) })
check(`cached ≥ ${TARGETS.cachedRatio}× hello`, summary.cached?.ratioToHello, (v) => v >= TARGETS.cachedRatio)
check(`cached with Redis ≥ ${TARGETS.cachedRedisRatio}× hello`, summary['cached-redis']?.ratioToHello, (v) => v >= TARGETS.cachedRedisRatio)
check(`uncached ≥ ${TARGETS.uncachedRatio}× hello`, summary.uncached?.ratioToHello, (v) => v >= TARGETS.uncachedRatio)
check(`signer ≥ ${TARGETS.signerRatio}× getSignedUrl`, signer.ratio, (v) => v >= TARGETS.signerRatio)
check(`cached p99 < ${TARGETS.p99Ms} ms (worst round)`, summary.cached?.worstP99Ms, (v) => v < TARGETS.p99Ms)
check(`uncached p99 < ${TARGETS.p99Ms} ms (worst round)`, summary.uncached?.worstP99Ms, (v) => v < TARGETS.p99Ms)
check(`batch ≥ ${fmt(TARGETS.batchUrlsPerSecond)} URLs/s`, summary.batch?.urlsPerSecond, (v) => v >= TARGETS.batchUrlsPerSecond)
check(`batch URLs/s ≥ ${TARGETS.batchRatio}× the uncached single route's (micro-batched)`, summary.batch?.urlsRatioToSingle, (v) => v >= TARGETS.batchRatio)
check(`batch URLs/s ≥ ${TARGETS.batchRatio}× the uncached single route's (one round trip per check)`, summary.batch?.urlsRatioToUnbatched, (v) => v >= TARGETS.batchRatio)
check(`unbatched (one round trip per check) ≥ ${TARGETS.uncachedRatio}× hello`, summary.unbatched?.ratioToHello, (v) => v >= TARGETS.uncachedRatio)
check(`batch p99 < ${TARGETS.batchP99Ms} ms with ${BATCH_CONNECTIONS} batches in flight (worst round)`, summary.batch?.worstP99Ms, (v) => v < TARGETS.batchP99Ms)
check(`app RSS < ${TARGETS.rssMb} MB`, processMaxRss.app === undefined ? undefined : Number(mb(processMaxRss.app)), (v) => v < TARGETS.rssMb)
const failed = Object.values(summary).reduce((sum, s) => sum + s.failedRequests, 0)

console.log('')
console.log('phase          req/s   ×hello   p50 ms  p99 ms  peak RSS MB  CPU µs/req  (×hello)  checks/req')
for (const phase of PHASES) {
  const s = summary[phase] as PhaseSummary
  console.log(`${phase.padEnd(12)} ${fmt(s.requestsPerSecond).padStart(7)}  ${(s.ratioToHello?.toFixed(2) ?? '1').padStart(7)}  ${String(s.p50Ms).padStart(7)} ${String(s.p99Ms).padStart(7)}  ${String(s.peakRssMb).padStart(11)}  ` +
    `${s.serverCpuMicrosPerRequest.toFixed(0).padStart(10)}  ${(s.cpuRatioToHello?.toFixed(2) ?? '1').padStart(8)}  ${s.permissionCallsPerRequest.toFixed(3).padStart(10)}`)
}
if (summary.batch !== undefined) {
  console.log(`batch        ${fmt(summary.batch.urlsPerSecond)} URLs/s (${BATCH_ITEMS} items × ${fmt(summary.batch.requestsPerSecond)} batches/s, ${BATCH_CONNECTIONS} in flight)` +
    (summary.batch.urlsRatioToSingle === undefined ? '' : `: ${summary.batch.urlsRatioToSingle.toFixed(1)}× the uncached single route's ${fmt(summary.uncached?.urlsPerSecond ?? 0)} URLs/s`) +
    (summary.batch.urlsRatioToUnbatched === undefined ? '' : `, ${summary.batch.urlsRatioToUnbatched.toFixed(1)}× its ${fmt(summary.unbatched?.urlsPerSecond ?? 0)} URLs/s without micro-batching`))
}
console.log(`signer       ${fmt(signer.oursUrlsPerSecond)} URLs/s vs getSignedUrl ${fmt(signer.sdkUrlsPerSecond)} URLs/s: ${signer.ratio.toFixed(1)}×`)
console.log(`process peak RSS: ${Object.entries(processMaxRss).map(([role, bytes]) => `${role} ${mb(bytes)} MB`).join(', ')}; ` +
  `request logs written: ${Object.entries(logBytes).map(([role, bytes]) => `${role} ${mb(bytes)} MB`).join(', ')}`)
console.log('')
for (const c of checks) console.log(`${c.pass === undefined ? 'n/a ' : c.pass ? 'PASS' : 'FAIL'}  ${c.target}: ${c.value === undefined ? '-' : Number(c.value.toFixed(2))}`)
if (failed > 0) console.log(`FAIL  ${failed} requests did not get a 2xx: the figures are not valid`)

if (CPU_PROF) printProfiles()

/** CPU µs per request by area, phases side by side; then each phase's top functions. */
function printProfiles (): void {
  const phases = PHASES.filter((p) => profiles[p] !== undefined)
  const perRequest = (phase: Phase, rows: ProfileSummary['byArea']) => {
    const p = profiles[phase] as { requests: number }
    return new Map(rows.map((r) => [r.name, (r.ms * 1000) / Math.max(1, p.requests)]))
  }
  const areas = phases.map((p) => perRequest(p, (profiles[p] as { summary: ProfileSummary }).summary.byArea))
  const names = [...new Set(areas.flatMap((a) => [...a.keys()]))]
    .sort((a, b) => Math.max(...areas.map((m) => m.get(b) ?? 0)) - Math.max(...areas.map((m) => m.get(a) ?? 0)))
  console.log(`\nCPU µs per request by area (self time, busy only; profiles in bench/results/profiles/${runId}-*.cpuprofile)`)
  console.log('area'.padEnd(44) + phases.map((p) => p.padStart(10)).join(''))
  const totals = phases.map((p) => ((profiles[p] as { summary: ProfileSummary }).summary.busyMs * 1000) / Math.max(1, (profiles[p] as { requests: number }).requests))
  console.log('TOTAL'.padEnd(44) + totals.map((v) => v.toFixed(1).padStart(10)).join(''))
  for (const name of names.slice(0, 24)) {
    console.log(name.slice(0, 43).padEnd(44) + areas.map((a) => (a.get(name)?.toFixed(1) ?? '-').padStart(10)).join(''))
  }
  for (const phase of phases) {
    const p = profiles[phase] as { requests: number, summary: ProfileSummary }
    console.log(`\n${phase}: top functions by self time (µs per request)`)
    for (const r of p.summary.topSelf.slice(0, 15)) console.log(`  ${((r.ms * 1000) / Math.max(1, p.requests)).toFixed(2).padStart(7)}  ${r.name}`)
  }
}

mkdirSync(RESULTS, { recursive: true })
const resultFile = join(RESULTS, `bench-${runId}.json`)
writeFileSync(resultFile, JSON.stringify({
  date: new Date().toISOString(),
  machine: { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, memoryMb: Math.round(totalmem() / 2 ** 20), platform: process.platform },
  settings: { durationSeconds: DURATION, rounds: ROUNDS, warmupSeconds: WARMUP, connections: CONNECTIONS, pipelining: PIPELINING, jwt: ALG, phases: PHASES, nodeFlags: NODE_FLAGS, malloc: serverMallocSettings(), logging: 'info, one line per request, buffered file destination (bufferedLogDestination)' },
  summary,
  signer,
  processMaxRssMb: Object.fromEntries(Object.entries(processMaxRss).map(([role, bytes]) => [role, Number(mb(bytes))])),
  requestLogMb: Object.fromEntries(Object.entries(logBytes).map(([role, bytes]) => [role, Number(mb(bytes))])),
  targets: checks,
  failedRequests: failed,
  measurements,
  ...(CPU_PROF && { profiles })
}, null, 2) + '\n')
console.log(`\nwritten: ${resultFile.slice(ROOT.length)}`)
process.exitCode = failed > 0 ? 1 : 0
