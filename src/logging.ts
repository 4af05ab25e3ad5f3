import type { FastifyServerOptions } from 'fastify'
import { pino, stdSerializers, type DestinationStream } from 'pino'
import { LOG_LEVELS } from './config/env-schema.js'

/**
 * pino options. Secrets never reach a log line: fields named like a credential
 * (authorization, token, secret…) are censored at any depth, and the signature
 * parts of any presigned URL are masked wherever a string carries one, error
 * messages and stacks included.
 */
const SIGNED_URL_SECRETS = /(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s"'<>]*/gi
const CENSORED = '[redacted]'
/** Compared lower-cased: headers, config names and our own field names alike. */
const SECRET_FIELDS = new Set([
  'authorization', 'cookie', 'set-cookie', 'token', 'secret', 'password',
  'secretaccesskey', 's3_secret_access_key', 'jwt_secret', 'metrics_token', 'uploadtoken'
])
const MAX_DEPTH = 5

export function redactSignedUrlSecrets (text: string): string {
  return text.replace(SIGNED_URL_SECRETS, '$1[redacted]')
}

/**
 * Returns `value` itself when it holds nothing to hide (the common case: no copy, no garbage),
 * otherwise a copy with the secrets censored. Errors become pino's serialized form first, since
 * pino applies this formatter before its serializers; other class instances (requests, sockets)
 * are left to their serializers, which never emit headers.
 */
export function scrub (value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.includes('-Amz-') || value.includes('-amz-') ? redactSignedUrlSecrets(value) : value
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value
  if (value instanceof Error) return scrub({ ...stdSerializers.err(value) }, depth)
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined
    value.forEach((item, index) => {
      const clean = scrub(item, depth + 1)
      if (clean !== item) (copy ??= [...value])[index] = clean
    })
    return copy ?? value
  }
  const prototype = Object.getPrototypeOf(value)
  if (prototype !== Object.prototype && prototype !== null) return value
  let copy: Record<string, unknown> | undefined
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key]
    const clean = SECRET_FIELDS.has(key.toLowerCase()) ? CENSORED : scrub(item, depth + 1)
    if (clean !== item) (copy ??= { ...value })[key] = clean
  }
  return copy ?? value
}

export function loggerOptions (level: string | undefined): NonNullable<Exclude<FastifyServerOptions['logger'], boolean>> {
  return {
    // An invalid LOG_LEVEL is reported by config validation; until then, log at info.
    level: (LOG_LEVELS as readonly string[]).includes(level ?? '') ? level : 'info',
    formatters: {
      log: (object: Record<string, unknown>) => scrub(object) as Record<string, unknown>
    },
    hooks: {
      logMethod (args: unknown[], method: (...args: unknown[]) => void) {
        method.apply(this, args.map((arg) => typeof arg === 'string' ? redactSignedUrlSecrets(arg) : arg))
      }
    }
  }
}

/** Log lines are written in blocks of at least this many bytes... */
const LOG_BLOCK_BYTES = 4096
/** ...and at least this often, so that `docker logs` and a test waiting for a line see it promptly. */
const LOG_FLUSH_INTERVAL_MS = 1000

export type LogDestination = DestinationStream & { flush: (cb?: (err?: Error) => void) => void, flushSync: () => void }

/**
 * The production server's log destination (stdout by default): lines are buffered and written in
 * blocks, not one write each (a CPU profile under load put a large share of each request's time in
 * socket and log writes). It is flushed every LOG_FLUSH_INTERVAL_MS, by src/server.ts once listening
 * and on shutdown, and synchronously at process exit (pino registers that for an asynchronous
 * destination), so a crash or a shutdown loses no line.
 */
export function bufferedLogDestination (dest: number | string = 1): LogDestination {
  return pino.destination({ dest, sync: false, minLength: LOG_BLOCK_BYTES, periodicFlush: LOG_FLUSH_INTERVAL_MS })
}

/** Writes what the destination holds now; never throws (a fatal path must still exit). */
export function flushLogsNow (destination: LogDestination): void {
  try {
    destination.flushSync()
  } catch {
    // Not open yet or already closed: pino's exit hook flushes what it can.
  }
}
