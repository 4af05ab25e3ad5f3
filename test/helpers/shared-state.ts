import type { Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { createSharedRedis, type SharedRedis, type SharedStateLogger } from '../../src/shared-state/redis.js'

export interface LogEntry { level: 'info' | 'warn' | 'error', fields: unknown, message: string | undefined }

/** A logger that keeps what it is given: pino's call shapes (obj, msg) and (msg). */
export function captureLog (): SharedStateLogger & { entries: LogEntry[], text: () => string } {
  const entries: LogEntry[] = []
  const at = (level: LogEntry['level']) => (first: unknown, second?: unknown) => {
    if (typeof first === 'string') entries.push({ level, fields: undefined, message: first })
    else entries.push({ level, fields: first, message: second as string | undefined })
  }
  return {
    entries,
    text: () => JSON.stringify(entries),
    info: at('info'),
    warn: at('warn'),
    error: at('error')
  } as unknown as SharedStateLogger & { entries: LogEntry[], text: () => string }
}

/** One "instance"'s connection to Redis, closed when the test ends. */
export function connect (t: Test, url: string, keyPrefix: string, log = captureLog()): SharedRedis & { log: ReturnType<typeof captureLog> } {
  const redis = createSharedRedis({ url, keyPrefix, log })
  t.teardown(() => redis.close())
  return Object.assign(redis, { log })
}

/** Polls `check` until true (every 10 ms), failing after `timeoutMs`; returns how long it took. */
export async function eventually (check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<number> {
  const started = Date.now()
  for (;;) {
    if (await check()) return Date.now() - started
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`)
    await sleep(10)
  }
}
