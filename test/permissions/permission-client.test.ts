/**
 * The connection pool to the permission service: keep-alive sockets are reused across
 * requests, never more than PERMISSIONS_MAX_CONNECTIONS are open, PERMISSIONS_TIMEOUT_MS
 * bounds each check even while it waits for a socket, a hung socket does not poison the
 * pool, and closing the app closes the sockets. Over real HTTP, against a server that
 * records which socket each check came on.
 */
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import t, { type Test } from 'tap'
import { build, type TestApp } from '../helpers/app.js'
import { bearer, tokenFor } from '../helpers/tokens.js'

type Answer = (res: ServerResponse, key: string) => void

const allow: Answer = (res) => res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end('{"allowed":true}')

/** A permission service that records sockets and concurrency; `answer` is settable. */
async function socketRecordingService (t: Test) {
  const state = {
    answer: allow,
    checks: 0,
    sockets: new Set<Socket>(),
    open: 0,
    maxOpen: 0,
    active: 0,
    maxActive: 0
  }
  const server = createServer((req, res) => {
    state.sockets.add(req.socket)
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      state.checks++
      state.active++
      state.maxActive = Math.max(state.maxActive, state.active)
      res.on('close', () => { state.active-- })
      const { key } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { key: string }
      state.answer(res, key)
    })
  })
  server.on('connection', (socket: Socket) => {
    state.open++
    state.maxOpen = Math.max(state.maxOpen, state.open)
    socket.on('close', () => { state.open-- })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/check`, state }
}

async function download (app: TestApp, token: string, key: string): Promise<number> {
  const res = await app.post('/v1/download-urls', { key }, bearer(token))
  await res.arrayBuffer()
  return res.status
}

t.test('sequential checks reuse one keep-alive socket', async (t) => {
  const service = await socketRecordingService(t)
  const app = await build(t, { env: { PERMISSIONS_URL: service.url } })
  const token = tokenFor('alice')
  for (let i = 0; i < 200; i++) t.equal(await download(app, token, `users/alice/${i}.jpg`), 200)
  t.equal(service.state.checks, 200, 'every check reached the service')
  t.equal(service.state.sockets.size, 1, 'all on one socket')
})

t.test('concurrent checks: bounded by PERMISSIONS_MAX_CONNECTIONS, sockets reused', async (t) => {
  const service = await socketRecordingService(t)
  service.state.answer = (res) => setTimeout(() => allow(res, ''), 10)
  const app = await build(t, { env: { PERMISSIONS_URL: service.url, PERMISSIONS_MAX_CONNECTIONS: '4', PERMISSIONS_TIMEOUT_MS: '5000' } })
  const token = tokenFor('alice')
  for (let round = 0; round < 3; round++) {
    const statuses = await Promise.all(Array.from({ length: 40 }, (_, i) => download(app, token, `users/alice/${round}-${i}.jpg`)))
    t.ok(statuses.every((s) => s === 200), `round ${round}: 40 × 200`)
  }
  t.equal(service.state.checks, 120)
  t.ok(service.state.maxOpen <= 4, `at most 4 sockets open at once (${service.state.maxOpen})`)
  t.ok(service.state.maxActive <= 4, `at most 4 checks in flight (${service.state.maxActive})`)
  t.ok(service.state.sockets.size <= 4, `120 checks on ${service.state.sockets.size} sockets`)
})

t.test('the timeout covers waiting for a socket; hung sockets are dropped, the pool recovers', async (t) => {
  const service = await socketRecordingService(t)
  service.state.answer = () => { /* hangs */ }
  const app = await build(t, { env: { PERMISSIONS_URL: service.url, PERMISSIONS_MAX_CONNECTIONS: '1', PERMISSIONS_TIMEOUT_MS: '300' } })
  const token = tokenFor('alice')

  const started = performance.now()
  const timed = await Promise.all(Array.from({ length: 3 }, async (_, i) => {
    const status = await download(app, token, `users/alice/hung-${i}.jpg`)
    return { status, ms: performance.now() - started }
  }))
  for (const { status, ms } of timed) {
    t.equal(status, 503, 'unavailable')
    t.ok(ms >= 250 && ms < 1000, `within the timeout though queued behind a hung check (${Math.round(ms)} ms)`)
  }
  t.equal(service.state.checks, 1, 'the queued checks never got the only socket')

  service.state.answer = allow
  t.equal(await download(app, token, 'users/alice/after.jpg'), 200, 'a fresh socket after the hung one was dropped')
  t.equal(service.state.checks, 2)
})

t.test('a hung answer on a reused socket still yields 503 within the timeout', async (t) => {
  const service = await socketRecordingService(t)
  const app = await build(t, { env: { PERMISSIONS_URL: service.url, PERMISSIONS_TIMEOUT_MS: '200' } })
  const token = tokenFor('alice')
  t.equal(await download(app, token, 'users/alice/1.jpg'), 200)
  service.state.answer = (res, key) => {
    if (key.endsWith('slow.jpg')) {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"allowed":') // ...and never finishes
    } else {
      allow(res, key)
    }
  }
  const started = performance.now()
  t.equal(await download(app, token, 'users/alice/slow.jpg'), 503)
  const ms = performance.now() - started
  t.ok(ms >= 150 && ms < 1000, `503 after ≈ the timeout (${Math.round(ms)} ms)`)
  t.equal(await download(app, token, 'users/alice/2.jpg'), 200, 'next check fine')
})

t.test('closing the app closes the pool', async (t) => {
  const service = await socketRecordingService(t)
  const app = await build(t, { env: { PERMISSIONS_URL: service.url } })
  const token = tokenFor('alice')
  await Promise.all(Array.from({ length: 8 }, (_, i) => download(app, token, `users/alice/${i}.jpg`)))
  t.ok(service.state.open > 0, `sockets open while running (${service.state.open})`)
  await app.app.close()
  const until = Date.now() + 2000
  while (service.state.open > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(service.state.open, 0, 'no socket left open')
})

t.test('an answer over 64 KiB is not trusted (503), declared or not', async (t) => {
  const service = await socketRecordingService(t)
  const big = JSON.stringify({ allowed: true, padding: 'x'.repeat(70 * 1024) })
  const app = await build(t, { env: { PERMISSIONS_URL: service.url } })
  const token = tokenFor('alice')
  service.state.answer = (res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(big) }).end(big)
  t.equal(await download(app, token, 'users/alice/declared.jpg'), 503, 'with content-length')
  service.state.answer = (res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(big) }
  t.equal(await download(app, token, 'users/alice/chunked.jpg'), 503, 'chunked')
  service.state.answer = allow
  t.equal(await download(app, token, 'users/alice/after.jpg'), 200, 'then fine again')
})
