/**
 * A server under test for bench/run.ts, in its own process. BENCH_ROLE:
 *  - `app`: the real service (buildApp) configured from BENCH_APP_ENV (JSON);
 *  - `hello`: the baseline, a Fastify instance configured like buildApp's (same logger options,
 *    request ids, body limit, Ajv options, the same one-line-per-request logging plugin) with
 *    one route, GET /hello → {"hello":"world"}.
 * Both log at info to BENCH_LOG_FILE through the production server's destination (src/logging.ts:
 * bufferedLogDestination, lines written in blocks), as src/server.ts logs to stdout. RSS is sampled every 20 ms; the parent reads and resets
 * the peak (and the CPU time used) over IPC between phases, and can have a phase CPU-profiled (V8 sampling profiler
 * through the inspector, so startup and idle time stay out of the profile).
 */
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import Fastify, { type FastifyInstance } from 'fastify'
import { ajvOptions } from '../src/http/ajv.js'
import requestLogging, { requestIdOptions } from '../src/http/request-logging.js'
import { bufferedLogDestination, loggerOptions } from '../src/logging.js'

const role = process.env.BENCH_ROLE
const logFile = process.env.BENCH_LOG_FILE
if (logFile === undefined || (role !== 'app' && role !== 'hello')) throw new Error('BENCH_ROLE (app|hello) and BENCH_LOG_FILE are required')
const logStream = bufferedLogDestination(logFile)
/**
 * BENCH_HELLO_SPIN_US: CPU time hello-shaped burns per request (busy wait), a diagnostic: on loopback a
 * slower server finds the load generator asleep more often, so each answer's write also pays for
 * waking it (docs/performance.md, "Where the time goes").
 */
const SPIN_MICROS = Number(process.env.BENCH_HELLO_SPIN_US ?? 0)
function spin (micros: number): void {
  const until = performance.now() + micros / 1000
  while (performance.now() < until) { /* busy */ }
}

async function helloWorld (): Promise<FastifyInstance> {
  // The options buildApp (src/app.ts) passes to Fastify.
  const app = Fastify({
    logger: { ...loggerOptions('info'), stream: logStream },
    ...requestIdOptions(),
    bodyLimit: 64 * 1024,
    ajv: ajvOptions,
    return503OnClosing: true
  })
  app.removeContentTypeParser('text/plain')
  await app.register(requestLogging)
  app.get('/hello', async () => ({ hello: 'world' }))
  // hello-shaped: the app's exchange without its work: a POST with a token and a JSON body, answered
  // with a signed-URL-sized JSON object and the same headers (the floor of HTTP, parsing and logging).
  const shapedAnswer = {
    url: `https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com/media/cached/user-0/video-0.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD&X-Amz-Credential=0123456789abcdef0123456789abcdef%2F20261130%2Fauto%2Fs3%2Faws4_request&X-Amz-Date=20261130T065000Z&X-Amz-Expires=300&X-Amz-Signature=${'a'.repeat(64)}&X-Amz-SignedHeaders=host&x-id=GetObject`,
    method: 'GET',
    headers: {},
    bucket: 'media',
    key: 'cached/user-0/video-0.mp4',
    expiresIn: 300,
    expiresAt: '2026-11-30T06:55:00.000Z'
  }
  app.post('/hello-shaped', {
    schema: { body: { type: 'object', required: ['key'], additionalProperties: false, properties: { key: { type: 'string', minLength: 1, maxLength: 1024 } } } }
  }, async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    if (SPIN_MICROS > 0) spin(SPIN_MICROS)
    return shapedAnswer
  })
  return app
}

// The app's modules are loaded only in its own process, so hello's RSS is a hello-world's.
const app = role === 'app'
  ? await (await import('../src/app.js')).buildApp({ env: { LOG_LEVEL: 'info', ...JSON.parse(process.env.BENCH_APP_ENV ?? '{}') as Record<string, string> }, logStream })
  : await helloWorld()
const address = await app.listen({ port: 0, host: '127.0.0.1' })

let peak = process.memoryUsage()
let cpuSince = process.cpuUsage()
setInterval(() => {
  const rss = process.memoryUsage.rss()
  if (rss > peak.rss) peak = process.memoryUsage()
}, 20).unref()

let session: Session | undefined

async function profile (action: 'start' | 'stop', file?: string): Promise<void> {
  if (action === 'start') {
    session = new Session()
    session.connect()
    await session.post('Profiler.enable')
    await session.post('Profiler.setSamplingInterval', { interval: 200 })
    await session.post('Profiler.start')
  } else if (session !== undefined && file !== undefined) {
    const { profile } = await session.post('Profiler.stop')
    writeFileSync(file, JSON.stringify(profile))
    session.disconnect()
    session = undefined
  }
}

process.on('message', (message: { type: 'peak' | 'stop' | 'profile', action?: 'start' | 'stop', file?: string }) => {
  if (message.type === 'profile') {
    profile(message.action ?? 'stop', message.file).then(
      () => process.send?.({ type: 'profiled' }),
      (error: unknown) => process.send?.({ type: 'profiled', error: String(error) })
    )
  } else if (message.type === 'peak') {
    // With --expose-gc (BENCH_NODE_ARGS), collect first: what is left is what the server keeps.
    const now = process.memoryUsage()
    const atPeak = now.rss > peak.rss ? now : peak
    const { gc } = globalThis as { gc?: () => void }
    if (gc !== undefined) gc()
    const retainedHeap = gc === undefined ? undefined : process.memoryUsage().heapUsed
    const cpu = process.cpuUsage(cpuSince)
    peak = process.memoryUsage()
    cpuSince = process.cpuUsage()
    process.send?.({ type: 'peak', rss: atPeak.rss, memory: { ...atPeak, ...(retainedHeap !== undefined && { retainedHeap }) }, cpuMicros: cpu.user + cpu.system })
  } else if (message.type === 'stop') {
    app.close().finally(() => {
      logStream.flushSync()
      process.send?.({ type: 'stopped', maxRss: process.resourceUsage().maxRSS * 1024 }, () => process.exit(0))
    })
  }
})
process.send?.({ type: 'ready', address })
