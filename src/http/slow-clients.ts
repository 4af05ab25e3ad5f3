import type { IncomingMessage } from 'node:http'
import fp from 'fastify-plugin'

/**
 * Slow clients must not hold sockets. Two rules:
 * - An answer sent before the request body was read (a 401 from the onRequest token check, a 413,
 *   a 415...) says `Connection: close`: Node would otherwise keep reading, and discarding, whatever
 *   body the client trickles in, keeping the keep-alive socket for as long as it takes.
 * - Every request is bounded as a whole (REQUEST_TIMEOUT_MS, Node's `requestTimeout`; headers
 *   included, `headersTimeout`): a request not fully received in time gets Node's 408 and its socket
 *   is closed. Node checks these deadlines every `connectionsCheckingInterval` (30 s by default,
 *   which would let a 10 s bound run to 40 s): check every second, or sooner for short bounds.
 */
export default fp(async function slowClients (app) {
  const { requestTimeoutMs } = app.config.http
  // Set before listen: Node starts its deadline checker when the server starts listening.
  // (@types/node declares connectionsCheckingInterval only as a createServer option.)
  const server = app.server as typeof app.server & { connectionsCheckingInterval: number }
  server.requestTimeout = requestTimeoutMs
  server.headersTimeout = requestTimeoutMs
  server.connectionsCheckingInterval = Math.min(1000, Math.max(100, Math.floor(requestTimeoutMs / 4)))

  app.addHook('onSend', (request, reply, payload, done) => {
    // HTTP/2 has no Connection header (and closes streams, not sockets).
    if (request.raw.httpVersionMajor === 1 && bodyStillArriving(request.raw)) reply.header('connection', 'close')
    done(null, payload)
  })
}, { name: 'slow-clients', dependencies: ['config'] })

/**
 * Whether part of the request body has not arrived yet. `complete` can still be false for a body
 * that has fully arrived but was not read (it then sits in the stream's buffer): a small unread body
 * (a 401 before a well-formed JSON body) keeps its keep-alive connection; Node discards it.
 */
function bodyStillArriving (raw: IncomingMessage): boolean {
  if (raw.complete) return false
  const declared = Number(raw.headers['content-length'])
  // Chunked (no length), or fewer bytes buffered than declared (nothing was read yet, or reading stopped midway).
  return !(Number.isSafeInteger(declared) && raw.readableLength >= declared)
}
