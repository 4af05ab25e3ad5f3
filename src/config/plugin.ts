import fp from 'fastify-plugin'
import fastifyEnv from '@fastify/env'
import { deriveConfig, envPluginOptions, toConfigError, type Config, type RawEnv } from './config.js'
import type { Env } from './env-schema.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The raw, validated environment (@fastify/env). Prefer `config`. */
    env: Env
    /** The derived configuration every other plugin reads. */
    config: Config
  }
}

/**
 * Validates the environment with @fastify/env and decorates `app.config`.
 * Invalid configuration fails `app.ready()` with one ConfigError, before anything listens.
 */
export default fp<{ env: RawEnv }>(async function configPlugin (app, { env }) {
  await new Promise<void>((resolve, reject) => {
    // Called as a function (not registered) so its error can be reworded before avvio sees it.
    fastifyEnv(app, envPluginOptions(env), (error?: Error) => (error === undefined ? resolve() : reject(toConfigError(error))))
  })
  app.decorate('config', deriveConfig(app.env))
}, { name: 'config' })
