import Fastify, { type FastifyInstance } from 'fastify'
import type { DestinationStream } from 'pino'
import type { RawEnv } from './config/config.js'
import configPlugin from './config/plugin.js'
import authPlugin from './auth/plugin.js'
import permissionsPlugin from './permissions/plugin.js'
import signingPlugin from './signing/plugin.js'
import errorHandling from './http/error-handler.js'
import requestLogging, { requestIdOptions } from './http/request-logging.js'
import { ajvOptions } from './http/ajv.js'
import { loggerOptions } from './logging.js'
import healthRoutes from './routes/health.js'
import v1Routes from './routes/v1/index.js'

export interface BuildAppOptions {
  /** Where configuration comes from; the server passes process.env, tests pass their own. */
  env: RawEnv
  /** Log destination (tests capture logs here); stdout by default. */
  logStream?: DestinationStream
}

/** Request bodies are small JSON documents; anything bigger is a mistake or an attack. */
const BODY_LIMIT_BYTES = 64 * 1024

/**
 * Composes the service: configuration first (it fails fast), then the cross-cutting
 * HTTP pieces, the domain plugins (auth, permissions, signing), and the routes.
 */
export async function buildApp ({ env, logStream }: BuildAppOptions): Promise<FastifyInstance> {
  const logger = loggerOptions(env.LOG_LEVEL)
  const app: FastifyInstance = Fastify({
    logger: logStream === undefined ? logger : { ...logger, stream: logStream },
    ...requestIdOptions(),
    bodyLimit: BODY_LIMIT_BYTES,
    ajv: ajvOptions,
    return503OnClosing: true
  })
  // Only JSON bodies: Fastify's built-in text/plain parser would turn a 415 into a confusing 400.
  app.removeContentTypeParser('text/plain')

  await app.register(configPlugin, { env })
  await app.register(errorHandling)
  await app.register(authPlugin)
  await app.register(permissionsPlugin)
  await app.register(requestLogging)
  await app.register(signingPlugin)

  await app.register(healthRoutes)
  await app.register(v1Routes, { prefix: '/v1' })
  return app
}
