import fp from 'fastify-plugin'

/**
 * Graceful close with keep-alive clients (Fly's proxy, load balancers, SDK agents keep
 * connections open). `app.close()` stops listening and closes the connections that are
 * idle at that moment, then waits for the others; a connection busy with a request at
 * that moment would stay open after its answer (keep-alive) until the shutdown times out.
 * So once closing has begun, every answer says `Connection: close`: the socket ends with
 * it and the close completes as soon as the last in-flight request is answered.
 * (Requests arriving on an open connection while closing get Fastify's 503, also with
 * `Connection: close`.)
 */
export default fp(async function connectionDraining (app) {
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onSend', (request, reply, payload, done) => {
    // HTTP/2 has no Connection header (and closes streams, not sockets).
    if (closing && request.raw.httpVersionMajor === 1) reply.header('connection', 'close')
    done(null, payload)
  })
}, { name: 'connection-draining' })
