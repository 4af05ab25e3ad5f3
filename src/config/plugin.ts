import fp from 'fastify-plugin'
import fastifyEnv from '@fastify/env'
import { ConfigError, deriveConfig, envPluginOptions, toConfigError, type Config, type RawEnv } from './config.js'
import { resolveSecretFiles } from './secret-files.js'
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
  // NAME_FILE secrets are read first; their problems join the one ConfigError below.
  const secrets = resolveSecretFiles(env)
  await new Promise<void>((resolve, reject) => {
    // Called as a function (not registered) so its error can be reworded before avvio sees it.
    fastifyEnv(app, envPluginOptions(secrets.env), (error?: Error) => (error === undefined ? resolve() : reject(toConfigError(error, secrets))))
  })
  if (secrets.problems.length > 0) throw new ConfigError(secrets.problems)
  app.decorate('config', deriveConfig(app.env))
}, { name: 'config' })
