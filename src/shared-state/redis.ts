import { Redis, type RedisOptions } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import { errorCode } from '../http/error-code.js'

/**
 * The connection to the Redis (or Valkey) that instances share: one command connection per
 * instance, plus one subscriber connection opened on first use (a connection in subscriber
 * mode can run no other command).
 *
 * Fail fast, never queue: with the offline queue off and no per-request retries, a command
 * while Redis is down fails at once instead of piling up, and `commandTimeoutMs` bounds one
 * that Redis does not answer. Callers decide what a failure means (rate limits open,
 * revocations closed, decisions local). The client reconnects by itself, with capped
 * exponential backoff, and everything recovers without a restart.
 *
 * Keys: every module names its keys with `key(name)` = REDIS_KEY_PREFIX + name, so that several
 * services (or test runs) can share one Redis. No token, URL or signature is ever a key or value.
 */
export type SharedStateLogger = Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>

export interface SharedRedisOptions {
  /** redis:// or rediss:// (TLS) URL, with credentials and database if any. */
  url: string
  /** Prepended to every key and channel name (REDIS_KEY_PREFIX). */
  keyPrefix: string
  /** Bound on one command (default 500 ms): Redis answers in well under a millisecond. */
  commandTimeoutMs?: number
  /** Bound on establishing a connection (default 2 s). */
  connectTimeoutMs?: number
  log: SharedStateLogger
}

export interface RedisHealth {
  state: 'ok' | 'fail'
  /** Why it failed, for the log (error codes, never the URL with its credentials). */
  reason?: string
}

export interface SharedRedis {
  /** The command connection. */
  readonly client: Redis
  /**
   * The subscriber connection, created on first call. It does not resubscribe by itself after a
   * reconnection: its user subscribes on each 'ready' event, so it knows when it missed messages.
   */
  subscriber: () => Redis
  /** A key or channel name under the configured prefix. */
  key: (name: string) => string
  /** Whether the command connection is up right now (no round trip). */
  isReady: () => boolean
  /** PING within the command timeout, for /readyz. */
  health: () => Promise<RedisHealth>
  close: () => Promise<void>
}

/** Thrown by shared-state operations that need Redis (admin changes) while it is unavailable. */
export class SharedStateUnavailableError extends Error {
  readonly reason: string
  constructor (what: string, reason: string) {
    super(`${what}: Redis unavailable (${reason})`)
    this.name = 'SharedStateUnavailableError'
    this.reason = reason
  }
}

export const REDIS_COMMAND_TIMEOUT_MS = 500
export const REDIS_CONNECT_TIMEOUT_MS = 2000
/** Backoff between reconnection attempts: 100 ms doubling to 2 s, with jitter so instances do not reconnect in step. */
export function reconnectDelayMs (attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt - 1, 5), 2000) + Math.floor(Math.random() * 100)
}

export function redisOptions (options: Pick<SharedRedisOptions, 'commandTimeoutMs' | 'connectTimeoutMs'>): RedisOptions {
  return {
    commandTimeout: options.commandTimeoutMs ?? REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: options.connectTimeoutMs ?? REDIS_CONNECT_TIMEOUT_MS,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // A command interrupted by a disconnect has failed for its caller already: never send it again.
    autoResendUnfulfilledCommands: false,
    retryStrategy: reconnectDelayMs,
    // Concurrent commands (e.g. many requests' counters) go out in one write.
    enableAutoPipelining: true,
    // Not ioredis' keyPrefix: it does not apply to channels; key() names both the same way.
    keyPrefix: ''
  }
}

export function createSharedRedis (options: SharedRedisOptions): SharedRedis {
  const { url, keyPrefix, log } = options
  const client = new Redis(url, { ...redisOptions(options), connectionName: 'r2-signer' })
  let subscriber: Redis | undefined
  watchConnection(client, 'commands', log)

  return {
    client,
    subscriber () {
      if (subscriber === undefined) {
        subscriber = client.duplicate({ autoResubscribe: false, connectionName: 'r2-signer-subscriber' })
        watchConnection(subscriber, 'subscriber', log)
      }
      return subscriber
    },
    key: (name) => keyPrefix + name,
    isReady: () => client.status === 'ready',
    async health () {
      if (client.status !== 'ready') return { state: 'fail', reason: `not connected (${client.status})` }
      try {
        await client.ping()
        return { state: 'ok' }
      } catch (error) {
        return { state: 'fail', reason: `PING failed (${redisErrorReason(error)})` }
      }
    },
    async close () {
      await Promise.all([client, subscriber].map(async (connection) => {
        if (connection === undefined) return
        try {
          await connection.quit()
        } catch {
          connection.disconnect()
        }
      }))
    }
  }
}

/**
 * A short reason for a failed command or connection, for logs: an error code, or what ioredis'
 * own errors mean. Never the message of a server error, which may quote arguments.
 */
export function redisErrorReason (error: unknown): string {
  const message = (error as { message?: unknown }).message
  if (typeof message === 'string') {
    if (message.includes('timed out')) return 'timeout'
    if (message.includes('enableOfflineQueue') || message.includes('Connection is closed')) return 'not connected'
    if (message.startsWith('MaxRetriesPerRequest')) return 'connection lost'
  }
  return errorCode(error)
}

/**
 * Logs a connection's outages once each (not every failed reconnection attempt) and its recovery.
 * The error listener also keeps ioredis from reporting errors as unhandled.
 */
function watchConnection (connection: Redis, name: string, log: SharedStateLogger): void {
  let down = false
  let everReady = false
  connection.on('error', (error: unknown) => {
    if (down) return
    down = true
    log.warn({ redis: name, reason: redisErrorReason(error) }, everReady ? 'Redis connection lost; reconnecting' : 'Redis not reachable; retrying')
  })
  connection.on('close', () => {
    if (down || !everReady) return
    down = true
    log.warn({ redis: name }, 'Redis connection closed; reconnecting')
  })
  connection.on('ready', () => {
    if (down || !everReady) log.info({ redis: name }, everReady ? 'Redis connection restored' : 'Redis connected')
    down = false
    everReady = true
  })
}
