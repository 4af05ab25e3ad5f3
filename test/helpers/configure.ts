import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { buildApp } from '../../src/app.js'
import type { RawEnv } from '../../src/config/config.js'

export type ConfigureOutcome = { app: FastifyInstance, error?: undefined } | { app?: undefined, error: unknown }

/** Builds and readies the app from `env` (closing it when the test ends), or returns the error it failed with. */
export async function configure (t: Test, env: RawEnv): Promise<ConfigureOutcome> {
  let app: FastifyInstance
  try {
    app = await buildApp({ env })
    await app.ready()
  } catch (error) {
    return { error }
  }
  t.teardown(() => app.close())
  return { app }
}
