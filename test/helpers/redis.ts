/**
 * The real Redis for tests. The run's shared redis-server is started by tap's before script
 * (test/storage/before.ts) and recorded in the state file; test files run in parallel on it,
 * so each test uses its own key prefix (testKeyPrefix) and never stops it. Outage tests start a
 * private redis-server (privateRedis) that they may stop and restart at will.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { readState, STATE_FILE } from '../storage/state.js'
import { startRedis, stopRedis, type RedisHandle } from '../storage/redis.js'

/** URL of the run's shared redis-server. */
export function redisUrl (): string {
  const url = readState()?.redis?.url
  if (url === undefined) {
    throw new Error(
      `No test Redis: ${STATE_FILE} has none. It is written by tap's "before" script (test/storage/before.ts), ` +
        'so run tests through tap (`npm test`, `npx tap test/x.test.ts`), not with node/tsx directly.'
    )
  }
  return url
}

/** A key prefix no other test uses, so tests sharing one Redis never see each other's keys. */
export function testKeyPrefix (name = 'test'): string {
  return `r2-signer-test:${name}:${randomBytes(6).toString('hex')}:`
}

export interface PrivateRedis {
  readonly url: string
  /** Stops the server (SIGTERM; it keeps nothing: no persistence). */
  stop: () => Promise<void>
  /** Starts it again on the same port, empty. */
  restart: () => Promise<void>
}

/** A redis-server of the test's own, stopped when the test ends: for outage and recovery tests. */
export async function privateRedis (t: Test): Promise<PrivateRedis> {
  let handle: RedisHandle | undefined = await startRedis()
  const port = handle.port
  const url = handle.url
  t.teardown(async () => {
    if (handle !== undefined) await stopRedis(handle)
  })
  return {
    url,
    async stop () {
      if (handle === undefined) return
      await stopRedis(handle)
      handle = undefined
    },
    async restart () {
      if (handle !== undefined) await stopRedis(handle)
      handle = await startRedis({ port })
    }
  }
}

/** A plain client for inspecting Redis from a test (closed when the test ends). */
export function inspector (t: Test, url = redisUrl()): Redis {
  const client = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  return client
}

/** Every key under `prefix` with its value (strings, hashes as field/value pairs), for "nothing secret stored" checks. */
export async function dumpKeys (client: Redis, prefix: string): Promise<Array<{ key: string, type: string, value: string }>> {
  const out: Array<{ key: string, type: string, value: string }> = []
  let cursor = '0'
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    for (const key of keys) {
      const type = await client.type(key)
      let value = ''
      if (type === 'string') value = (await client.get(key)) ?? ''
      else if (type === 'hash') value = JSON.stringify(await client.hgetall(key))
      else if (type === 'set') value = JSON.stringify(await client.smembers(key))
      else if (type === 'list') value = JSON.stringify(await client.lrange(key, 0, -1))
      else if (type === 'zset') value = JSON.stringify(await client.zrange(key, '0', '-1', 'WITHSCORES'))
      out.push({ key, type, value })
    }
  } while (cursor !== '0')
  return out
}
