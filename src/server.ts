import closeWithGrace from 'close-with-grace'
import type { Logger } from 'pino'
import { buildApp } from './app.js'
import { ConfigError } from './config/config.js'

/**
 * Production entry point: configuration from the environment only. Invalid
 * configuration exits non-zero before listening, with one message naming
 * every offending variable.
 *
 * Shutdown (SIGTERM from the platform, SIGINT from a terminal): stop accepting
 * connections, let in-flight requests finish, exit 0; if they take longer than
 * SHUTDOWN_TIMEOUT_MS, exit 1 anyway. A second signal exits at once. An uncaught
 * error is logged and closes the same way, exiting 1.
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

const { timeoutMs } = app.config.shutdown
closeWithGrace({
  delay: timeoutMs,
  logger: { error: (message: unknown) => app.log.error({ err: message }, 'error while shutting down') },
  onTimeout: () => app.log.error({ timeoutMs }, 'shutdown timed out: exiting with requests still in flight'),
  onSecondSignal: (signal) => app.log.warn({ signal }, 'second signal while shutting down: exiting now'),
  onSecondError: (err) => app.log.error({ err }, 'second error while shutting down: exiting now')
}, async ({ signal, err }) => {
  const started = performance.now()
  if (err !== undefined) app.log.fatal({ err }, 'uncaught error: shutting down')
  else app.log.info({ signal, timeoutMs }, 'shutting down: no new connections, finishing in-flight requests')
  await app.close()
  app.log.info({ durationMs: Math.round(performance.now() - started) }, 'shut down')
  // pino writes asynchronously: let the last lines reach stdout before close-with-grace exits.
  await new Promise<void>((resolve) => (app.log as unknown as Logger).flush(() => resolve()))
})

await app.listen({ port: app.config.port, host: app.config.host })
