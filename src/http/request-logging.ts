import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import { LogController, type FastifyServerOptions } from 'fastify'

/** A caller's X-Request-Id is kept when it is a plain token; anything else gets a fresh UUID. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

export const requestIdOptions = (): Pick<FastifyServerOptions, 'genReqId' | 'logController'> => ({
  genReqId: (request) => {
    const given = request.headers['x-request-id']
    return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
  },
  // Fastify's two default lines per request are replaced by the one line below.
  logController: new LogController({ requestIdLogLabel: 'requestId', disableRequestLogging: true })
})

/**
 * One log line per request: request id, subject, action, bucket, key, status and
 * duration. Never the Authorization header, the body, or a signed URL.
 */
export default fp(async function requestLogging (app) {
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
    // Answers may carry a signed URL: no shared cache may keep them.
    reply.header('cache-control', 'no-store')
  })

  app.addHook('onResponse', async (request, reply) => {
    request.log.info({
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 100) / 100,
      ...request.audit
    }, 'request completed')
  })
}, { name: 'request-logging', dependencies: ['permissions'] })
