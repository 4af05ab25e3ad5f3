/**
 * Graceful shutdown of the real server process (src/server.ts, close-with-grace): on
 * SIGTERM it stops accepting connections, lets the in-flight request finish (200) and
 * exits 0; past SHUTDOWN_TIMEOUT_MS it exits 1 anyway; a second signal exits at once.
 * The permission stub delays its answer so that a request is in flight at SIGTERM.
 */
import t, { type Test } from 'tap'
import { Agent, fetch as undiciFetch, type Response as UndiciResponse } from 'undici'
import { buildApp } from '../src/app.js'
import { OFFLINE_STORAGE_ENV } from './helpers/app.js'
import { json, startPermissionStub, type StubHandler } from './helpers/permission-stub.js'
import { startServerProcess } from './helpers/server-process.js'
import { bearer, tokenFor, TEST_JWT_SECRET } from './helpers/tokens.js'

const PERMISSION_DELAY_MS = 1500

interface Server {
  url: string
  pid: number
  kill: (signal: NodeJS.Signals) => void
  exited: Promise<{ code: number | null, at: number }>
  logs: () => Array<Record<string, unknown>>
}

/** Starts src/server.ts with a permission stub answering through `handler`; killed at the end of the test. */
async function startServer (t: Test, handler: StubHandler, env: Record<string, string> = {}): Promise<Server & { received: () => number }> {
  const stub = await startPermissionStub(handler)
  t.teardown(stub.close)
  const server = startServerProcess({
    env: {
      ...OFFLINE_STORAGE_ENV,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      JWT_SECRET: TEST_JWT_SECRET,
      PERMISSIONS_URL: stub.url,
      PERMISSIONS_TIMEOUT_MS: '10000',
      ...env
    },
    killAfterMs: 30_000
  })
  t.teardown(() => server.stop('SIGKILL'))

  const url = await server.listening
  if (url === undefined) throw new Error(`the server did not start: ${server.stderr()}`)
  return {
    url,
    pid: server.child.pid as number,
    kill: (signal) => server.child.kill(signal),
    exited: server.exited,
    received: () => stub.received.length,
    logs: () => server.stdout().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>)
  }
}

async function until (condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** A request on its own fresh connection (no pooled socket hides a refused connect). */
async function freshRequest (url: string, init: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<UndiciResponse> {
  const dispatcher = new Agent({ connections: 1 })
  try {
    const response = await undiciFetch(url, { ...init, dispatcher })
    await response.clone().arrayBuffer()
    return response
  } finally {
    void dispatcher.close()
  }
}

const delayedAllow: StubHandler = (_check, res) => { setTimeout(() => json(res, 200, { allowed: true }), PERMISSION_DELAY_MS) }

function signRequest (url: string, dispatcher?: Agent): Promise<UndiciResponse> {
  const init = {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'in-flight-at-sigterm', ...bearer(tokenFor('alice')) },
    body: JSON.stringify({ key: 'videos/intro.mp4' })
  }
  return dispatcher === undefined ? freshRequest(`${url}/v1/download-urls`, init) : undiciFetch(`${url}/v1/download-urls`, { ...init, dispatcher })
}

t.test('SIGTERM: the in-flight request completes with 200, new connections are refused, exit 0', async (t) => {
  const server = await startServer(t, delayedAllow, { SHUTDOWN_TIMEOUT_MS: '5000' })
  // Like Fly's proxy, the client keeps its connection alive (and open until the end of the test):
  // the server must close it after the answer, not wait for it until the shutdown times out.
  const keepAlive = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 })
  t.teardown(() => keepAlive.close())
  const inFlight = signRequest(server.url, keepAlive)
  await until(() => server.received() === 1) // r2-signer is now waiting on the permission service

  const sigtermAt = performance.now()
  server.kill('SIGTERM')
  await new Promise((resolve) => setTimeout(resolve, 200))

  const refused = await freshRequest(`${server.url}/healthz`).then((response) => `HTTP ${response.status}`, (error: Error) => (error.cause as { code?: string } | undefined)?.code ?? error.message)
  t.ok(refused === 'ECONNREFUSED' || refused === 'HTTP 503', `a new connection after SIGTERM is refused (got ${refused})`)

  const response = await inFlight
  t.equal(response.status, 200, 'the in-flight request completes')
  t.equal(response.headers.get('connection'), 'close', 'and its kept-alive connection is closed with it')
  const body = await response.json() as { url?: string }
  t.match(body.url, /^http:\/\/127\.0\.0\.1:9\/media\/videos\/intro\.mp4\?X-Amz-/, 'with its signed URL')

  const { code, at } = await server.exited
  t.equal(code, 0, 'exit code 0')
  const shutdownMs = at - sigtermAt
  t.ok(shutdownMs >= PERMISSION_DELAY_MS - 500, `waited for the request (${Math.round(shutdownMs)} ms)`)
  t.ok(shutdownMs < 5000, `within SHUTDOWN_TIMEOUT_MS (${Math.round(shutdownMs)} ms)`)

  const logs = server.logs()
  const starting = logs.findIndex((line) => /^shutting down/.test(String(line.msg)))
  const completed = logs.findIndex((line) => line.msg === 'request completed' && line.requestId === 'in-flight-at-sigterm')
  const done = logs.findIndex((line) => line.msg === 'shut down')
  t.match(logs[starting], { signal: 'SIGTERM', timeoutMs: 5000 }, 'logs the start of the shutdown')
  t.match(logs[completed], { status: 200 }, 'the in-flight request is logged')
  t.match(logs[done], { durationMs: Number }, 'logs its end')
  // By time, not by position: pino writes asynchronously, and the last lines may reach stdout a little out of order.
  const time = (index: number) => Number(logs[index]?.time)
  t.ok(time(starting) <= time(completed) && time(completed) <= time(done), `in that order (${JSON.stringify(logs.map((line) => [line.msg, line.time]))})`)
})

t.test('logs are buffered, yet a line logged just before SIGTERM reaches stdout', async (t) => {
  const server = await startServer(t, (_check, res) => json(res, 200, { allowed: true }))
  const response = await freshRequest(`${server.url}/v1/download-urls`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'just-before-sigterm', ...bearer(tokenFor('alice')) },
    body: JSON.stringify({ key: 'videos/intro.mp4' })
  })
  t.equal(response.status, 200)
  // Its log line is written in onResponse, after the answer: give it a moment to be logged, far less
  // than the destination's periodic flush (1 s), so that only the shutdown's flush can write it.
  await new Promise((resolve) => setTimeout(resolve, 50))
  const before = server.logs().some((line) => line.requestId === 'just-before-sigterm')
  server.kill('SIGTERM')
  t.equal((await server.exited).code, 0)
  const logs = server.logs()
  t.match(logs.find((line) => line.requestId === 'just-before-sigterm'), { msg: 'request completed', status: 200 }, `the request's line is on stdout (${before ? 'already before SIGTERM' : 'written by the shutdown'})`)
  t.ok(logs.some((line) => line.msg === 'shut down'), 'and the last line of the shutdown')
})

t.test('SIGINT is handled the same way', async (t) => {
  const server = await startServer(t, delayedAllow)
  server.kill('SIGINT')
  t.equal((await server.exited).code, 0)
  t.match(server.logs().find((line) => /^shutting down/.test(String(line.msg))), { signal: 'SIGINT' })
})

t.test('bounded: past SHUTDOWN_TIMEOUT_MS the process exits 1 with requests still in flight', async (t) => {
  const server = await startServer(t, () => { /* the permission service never answers */ }, { SHUTDOWN_TIMEOUT_MS: '1000', PERMISSIONS_TIMEOUT_MS: '60000' })
  const inFlight = signRequest(server.url).catch((error: Error) => error)
  await until(() => server.received() === 1)
  const sigtermAt = performance.now()
  server.kill('SIGTERM')
  const { code, at } = await server.exited
  t.equal(code, 1, 'exit code 1')
  const shutdownMs = at - sigtermAt
  t.ok(shutdownMs >= 900 && shutdownMs < 3000, `after about SHUTDOWN_TIMEOUT_MS (${Math.round(shutdownMs)} ms)`)
  t.ok(server.logs().some((line) => line.msg === 'shutdown timed out: exiting with requests still in flight' && line.timeoutMs === 1000), 'logged')
  t.type(await inFlight, Error, 'the abandoned request fails (connection closed)')
})

t.test('a second signal exits at once', async (t) => {
  const server = await startServer(t, () => { /* never answers */ }, { SHUTDOWN_TIMEOUT_MS: '20000', PERMISSIONS_TIMEOUT_MS: '60000' })
  const inFlight = signRequest(server.url).catch((error: Error) => error)
  await until(() => server.received() === 1)
  server.kill('SIGTERM')
  await until(() => server.logs().some((line) => /^shutting down/.test(String(line.msg))))
  const secondAt = performance.now()
  server.kill('SIGTERM')
  const { code, at } = await server.exited
  t.equal(code, 1)
  t.ok(at - secondAt < 1000, `right after the second signal (${Math.round(at - secondAt)} ms)`)
  t.ok(server.logs().some((line) => line.msg === 'second signal while shutting down: exiting now'))
  await inFlight
})

t.test('SHUTDOWN_TIMEOUT_MS: 10 s by default, validated', async (t) => {
  const base = { ...OFFLINE_STORAGE_ENV, LOG_LEVEL: 'silent', JWT_SECRET: TEST_JWT_SECRET, PERMISSIONS_URL: 'http://127.0.0.1:9/check' }
  const app = await buildApp({ env: base })
  await app.ready()
  t.equal(app.config.shutdown.timeoutMs, 10_000)
  await app.close()
  for (const value of ['0', '99', '600001', 'ten', '1.5']) {
    const attempt = async () => {
      const invalid = await buildApp({ env: { ...base, SHUTDOWN_TIMEOUT_MS: value } })
      await invalid.ready()
      await invalid.close()
    }
    await t.rejects(attempt(), { name: 'ConfigError', variables: ['SHUTDOWN_TIMEOUT_MS'] }, `${value} → error`)
  }
})
