/**
 * Slow clients over real sockets (node:net): a client that declares a body and trickles it
 * gets its answer and then its socket closed, instead of keeping the keep-alive connection for
 * as long as it trickles; REQUEST_TIMEOUT_MS bounds every request as a whole (408, closed); and
 * a normal caller keeps being served while 200 such sockets are open.
 */
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { build } from '../helpers/app.js'
import { bearer, tokenFor } from '../helpers/tokens.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface SlowClient {
  socket: Socket
  /** Everything the server sent. */
  received: () => string
  /** Resolves when the server closed the connection (or it failed). */
  closed: Promise<void>
  isClosed: () => boolean
  stop: () => void
}

/** Sends the head of a POST declaring `Content-Length: 60000`, then one body byte per `intervalMs`. */
function slowClient (port: number, headers: Record<string, string> = {}, intervalMs = 200): SlowClient {
  const socket = connect(port, '127.0.0.1')
  let text = ''
  let isClosed = false
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { text += chunk })
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.on('close', () => { isClosed = true; resolve() }))
  const head = ['POST /v1/download-urls HTTP/1.1', 'Host: 127.0.0.1', 'Content-Type: application/json', 'Content-Length: 60000', 'Connection: keep-alive',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)].join('\r\n') + '\r\n\r\n'
  socket.write(head + '{')
  const timer = setInterval(() => { if (!socket.destroyed) socket.write(' ') }, intervalMs)
  socket.on('close', () => clearInterval(timer))
  return { socket, received: () => text, closed, isClosed: () => isClosed, stop: () => { clearInterval(timer); socket.destroy() } }
}

const portOf = (url: string) => Number(new URL(url).port)

/** One POST on its own connection (closed after the answer); resolves with the status. */
function postOnce (port: number, body: object, authorization: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body)
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/download-urls', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), authorization, connection: 'close' } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end(payload)
  })
}

t.test('an error answered before the body was read closes the connection', async (t) => {
  const app = await build(t)
  const client = slowClient(portOf(app.url))
  t.teardown(client.stop)
  await Promise.race([client.closed, sleep(5000)])
  t.ok(client.isClosed(), 'the server closed the socket right after its answer, without waiting for the body')
  t.match(client.received(), /^HTTP\/1\.1 401 /, '401 for the missing token')
  t.match(client.received(), /\r\nconnection: close\r\n/i, 'Connection: close')
  t.equal(app.permissions.received.length, 0, 'the permission service was not asked')
})

t.test('a complete request keeps its keep-alive connection', async (t) => {
  const app = await build(t)
  const socket = connect(portOf(app.url), '127.0.0.1')
  t.teardown(() => socket.destroy())
  let text = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { text += chunk })
  const body = JSON.stringify({ key: 'users/alice/a.jpg' })
  const request = `POST /v1/download-urls HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`
  socket.write(request)
  const answered = async () => { for (let i = 0; i < 300 && !/\r\n\r\n[\s\S]*\}$/.test(text); i++) await sleep(10) }
  await answered()
  t.match(text, /^HTTP\/1\.1 401 /)
  t.notMatch(text, /connection: close/i, 'a 401 after the body was read keeps the connection')
  text = ''
  socket.write(request.replace('Host: x', `Host: x\r\nAuthorization: ${bearer(tokenFor('alice')).authorization}`))
  await answered()
  t.match(text, /^HTTP\/1\.1 200 /, 'the same socket serves the next request')
})

t.test('REQUEST_TIMEOUT_MS bounds a whole request: 408 and the socket is closed', async (t) => {
  const app = await build(t, { env: { REQUEST_TIMEOUT_MS: '1000' } })
  t.equal(app.app.server.requestTimeout, 1000)
  t.equal(app.app.server.headersTimeout, 1000)
  // With a valid token, nothing is answered early: only the deadline ends the trickle.
  const withToken = slowClient(portOf(app.url), bearer(tokenFor('alice')))
  t.teardown(withToken.stop)
  // Headers that never finish.
  const headersOnly = connect(portOf(app.url), '127.0.0.1')
  headersOnly.on('error', () => {})
  headersOnly.resume() // read what the server sends, so 'close' can follow its end
  t.teardown(() => headersOnly.destroy())
  headersOnly.write('POST /v1/download-urls HTTP/1.1\r\nHost: 127.0.0.1\r\n')
  let headersAnswer = ''
  headersOnly.on('data', (chunk: Buffer) => { headersAnswer += chunk.toString('utf8') })
  const headersClosed = new Promise<void>((resolve) => headersOnly.on('close', () => resolve()))

  await Promise.race([Promise.all([withToken.closed, headersClosed]), sleep(6000)])
  t.ok(withToken.isClosed(), 'the trickling body was cut off')
  t.match(withToken.received(), /^HTTP\/1\.1 408 /, '408 Request Timeout')
  t.ok(headersOnly.destroyed, 'unfinished headers were cut off')
  t.match(headersAnswer, /^HTTP\/1\.1 408 /, 'with a 408')
  t.equal(app.permissions.received.length, 0, 'no permission check for an incomplete request')
})

t.test('200 slow sockets hold nothing beyond the timeout; a normal caller is served meanwhile', async (t) => {
  const app = await build(t, { env: { REQUEST_TIMEOUT_MS: '2000' } })
  const port = portOf(app.url)
  const withoutToken = Array.from({ length: 100 }, () => slowClient(port, {}, 500))
  const withToken = Array.from({ length: 100 }, () => slowClient(port, bearer(tokenFor('mallory')), 500))
  const clients = [...withoutToken, ...withToken]
  t.teardown(() => clients.forEach((client) => client.stop()))

  // A normal caller, while the slow sockets are open (a connection per request, so that it leaves none open).
  for (let i = 0; i < 20; i++) {
    const status = await postOnce(port, { key: `users/alice/${i}.jpg` }, bearer(tokenFor('alice')).authorization)
    t.equal(status, 200, `normal request ${i + 1} served`)
  }

  await Promise.race([Promise.all(clients.map((client) => client.closed)), sleep(8000)])
  t.equal(withoutToken.filter((client) => client.isClosed()).length, 100, 'every tokenless slow socket closed after its 401')
  t.ok(withoutToken.every((client) => /^HTTP\/1\.1 401 /.test(client.received())), 'each got its 401')
  t.equal(withToken.filter((client) => client.isClosed()).length, 100, 'every slow socket with a token closed at the deadline')
  t.ok(withToken.every((client) => /^HTTP\/1\.1 408 /.test(client.received())), 'each got a 408')
  const connections = await new Promise<number>((resolve, reject) => app.app.server.getConnections((error, count) => error ? reject(error) : resolve(count)))
  t.equal(connections, 0, 'the server holds no connection')
  t.equal(app.permissions.received.filter((check) => (check.body as { subject?: string } | undefined)?.subject === 'mallory').length, 0, 'no slow request reached the permission service')
})

t.test('REQUEST_TIMEOUT_MS is validated', async (t) => {
  const { configure } = await import('../helpers/app.js')
  const { OFFLINE_STORAGE_ENV } = await import('../helpers/app.js')
  const { TEST_JWT_SECRET } = await import('../helpers/tokens.js')
  const env = { ...OFFLINE_STORAGE_ENV, JWT_SECRET: TEST_JWT_SECRET, PERMISSIONS_URL: 'http://127.0.0.1:9/check' }
  const fallback = await configure(t, env)
  t.equal(fallback.app?.config.http.requestTimeoutMs, 10000, 'default 10 s')
  t.equal(fallback.app?.server.requestTimeout, 10000)
  for (const bad of ['0', '50', 'soon', '300001']) {
    const { error } = await configure(t, { ...env, REQUEST_TIMEOUT_MS: bad })
    t.match(error, { name: 'ConfigError', variables: ['REQUEST_TIMEOUT_MS'] }, bad)
  }
})
