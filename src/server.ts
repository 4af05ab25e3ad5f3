import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError } from './config/config.js'
import { bufferedLogDestination, flushLogsNow } from './logging.js'

/**
 * Production entry point: configuration from the environment only. Invalid
 * configuration exits non-zero before listening, with one message naming
 * every offending variable.
 *
 * Shutdown (SIGTERM from the platform, SIGINT from a terminal): stop accepting
 * connections, let in-flight requests finish, exit 0; if they take longer than
 * SHUTDOWN_TIMEOUT_MS, exit 1 anyway. A second signal exits at once. An uncaught
 * error is logged and closes the same way, exiting 1.
 *
 * Logs go to stdout in blocks (src/logging.ts: bufferedLogDestination), flushed at least every
 * second, once listening, at the end of a shutdown, right after a fatal error, and at exit.
 */
const logStream = bufferedLogDestination()
let app: Awaited<ReturnType<typeof buildApp>>
try {
  app = await buildApp({ env: process.env, logStream })
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
  // close-with-grace exits right after these: write the line (and all before it) now.
  onTimeout: () => {
    app.log.error({ timeoutMs }, 'shutdown timed out: exiting with requests still in flight')
    flushLogsNow(logStream)
  },
  onSecondSignal: (signal) => {
    app.log.warn({ signal }, 'second signal while shutting down: exiting now')
    flushLogsNow(logStream)
  },
  onSecondError: (err) => {
    app.log.error({ err }, 'second error while shutting down: exiting now')
    flushLogsNow(logStream)
  }
}, async ({ signal, err }) => {
  const started = performance.now()
  if (err !== undefined) {
    app.log.fatal({ err }, 'uncaught error: shutting down')
    // The process may not survive the shutdown: the fatal line goes out before anything else.
    flushLogsNow(logStream)
  } else app.log.info({ signal, timeoutMs }, 'shutting down: no new connections, finishing in-flight requests')
  await app.close()
  app.log.info({ durationMs: Math.round(performance.now() - started) }, 'shut down')
  // Buffered and asynchronous: let the last lines reach stdout before close-with-grace exits.
  await new Promise<void>((resolve) => logStream.flush(() => resolve()))
})

await app.listen({ port: app.config.port, host: app.config.host })
// "Server listening" now, not at the next periodic flush: platforms and tests wait for it.
logStream.flush()
