import Fastify, { type FastifyInstance } from 'fastify'
import type { DestinationStream } from 'pino'
import type { RawEnv } from './config/config.js'
import configPlugin from './config/plugin.js'
import authPlugin from './auth/plugin.js'
import permissionsPlugin from './permissions/plugin.js'
import sharedStatePlugin from './shared-state/plugin.js'
import signingPlugin from './signing/plugin.js'
import multipartPlugin from './storage/plugin.js'
import storageSafetyPlugin from './storage/safety-plugin.js'
import { UPLOAD_ID_MAX_LENGTH } from './schemas/multipart.js'
import errorHandling from './http/error-handler.js'
import requestLogging, { requestIdOptions } from './http/request-logging.js'
import connectionDraining from './http/connection-draining.js'
import slowClients from './http/slow-clients.js'
import corsPlugin from './http/cors.js'
import jsonBody from './http/json-body.js'
import { clientErrorHandler } from './http/client-errors.js'
import { ajvOptions } from './http/ajv.js'
import { loggerOptions } from './logging.js'
import openapiPlugin from './openapi/plugin.js'
import healthRoutes from './routes/health.js'
import metricsPlugin from './metrics/plugin.js'
import readinessPlugin from './readiness/plugin.js'
import readinessRoutes from './routes/readiness.js'
import metricsRoutes from './routes/metrics.js'
import v1Routes from './routes/v1/index.js'
import adminRoutes from './routes/admin/index.js'

export interface BuildAppOptions {
  /** Where configuration comes from; the server passes process.env, tests pass their own. */
  env: RawEnv
  /** Log destination (tests capture logs here); stdout by default. */
  logStream?: DestinationStream
  /** The clock /readyz compares with storage's Date header; tests inject a skewed one. Date.now by default. */
  now?: () => number
  /**
   * false: the storage self-test never runs and writes are not gated on it. Only for tests whose
   * storage is a script or absent; the server always runs it.
   */
  storageSelfTest?: boolean
  /** Rate-limit window in ms (a minute by default): tests shorten it to see counts reset. */
  rateLimitWindowMs?: number
}

/** Request bodies are small JSON documents; anything bigger is a mistake or an attack. */
const BODY_LIMIT_BYTES = 64 * 1024

/**
 * Composes the service: configuration first (it fails fast), then the cross-cutting
 * HTTP pieces, the domain plugins (auth, permissions, signing, storage), and the routes.
 * docs/architecture.md draws the request path through them.
 */
export async function buildApp ({ env, logStream, now, storageSelfTest, rateLimitWindowMs }: BuildAppOptions): Promise<FastifyInstance> {
  const logger = loggerOptions(env.LOG_LEVEL)
  const app: FastifyInstance = Fastify({
    logger: logStream === undefined ? logger : { ...logger, stream: logStream },
    ...requestIdOptions(),
    bodyLimit: BODY_LIMIT_BYTES,
    ajv: ajvOptions,
    return503OnClosing: true,
    // Errors Node's HTTP parser answers before Fastify sees a request (headers over Node's limit: 431).
    clientErrorHandler,
    // The router refuses longer path parameters (414; default limit 100). R2's multipart upload IDs run
    // to hundreds of characters; IDs over the schema's limit but under this one get a precise 400.
    routerOptions: { maxParamLength: 4 * UPLOAD_ID_MAX_LENGTH }
  })
  // Only JSON bodies: Fastify's built-in text/plain parser would turn a 415 into a confusing 400.
  app.removeContentTypeParser('text/plain')
  await app.register(jsonBody)

  await app.register(configPlugin, { env })
  // Before the plugins it instruments (permissions, signing) and before any route.
  await app.register(metricsPlugin)
  await app.register(errorHandling)
  // Before auth (failed authentications are counted per address) and permissions (revocations, shared decisions).
  await app.register(sharedStatePlugin, { rateLimitWindowMs })
  await app.register(authPlugin)
  await app.register(requestLogging)
  await app.register(permissionsPlugin)
  await app.register(connectionDraining)
  await app.register(slowClients)
  // Before the routes, at the root: preflights are answered before the /v1 token check.
  await app.register(corsPlugin)
  await app.register(signingPlugin)
  await app.register(multipartPlugin)
  // Before the routes: it gates (and documents) those with config.writesObjects.
  await app.register(storageSafetyPlugin, { enabled: storageSelfTest })

  // Before the routes: it collects them for the OpenAPI document as they are added.
  await app.register(openapiPlugin)
  await app.register(readinessPlugin, { now })

  await app.register(healthRoutes)
  await app.register(readinessRoutes)
  await app.register(metricsRoutes)
  await app.register(v1Routes, { prefix: '/v1' })
  // Only with ADMIN_TOKEN: without it the admin paths do not exist (404).
  if (app.config.admin.token !== undefined) await app.register(adminRoutes, { prefix: '/admin/v1' })
  return app
}
