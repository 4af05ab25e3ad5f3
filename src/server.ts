import { buildApp } from './app.js'
import { ConfigError } from './config/config.js'

/**
 * Production entry point: configuration from the environment only. Invalid
 * configuration exits non-zero before listening, with one message naming
 * every offending variable.
 */
let app: Awaited<ReturnType<typeof buildApp>>
try {
  app = await buildApp({ env: process.env })
  await app.ready()
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`r2-signer: ${error.message}\n`)
    process.exit(1)
  }
  throw error
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    app.log.info({ signal }, 'shutting down')
    app.close().then(() => process.exit(0), () => process.exit(1))
  })
}

await app.listen({ port: app.config.port, host: app.config.host })
