import type { SharedRedis, SharedStateLogger } from './redis.js'
import { redisErrorReason } from './redis.js'
import { keyHash } from './hash.js'

/**
 * Fixed-window rate limits: `limit` units per key per window (a minute by default; windows are
 * aligned to the wall clock, so every instance agrees which one is current). A call consumes N
 * units: a batch counts its items, multipart part URLs count one each.
 *
 * Two implementations behind one interface: in memory (one instance, no REDIS_URL) and shared
 * through Redis. The Redis one keeps one counter per key and window, changed only atomically
 * by a Lua script that RESERVES units: it never takes the counter past the limit. So across
 * any number of instances no more than `limit` units are ever granted in a window, and the
 * request after the limit is 429 on every instance.
 *
 * Speed: asking Redis for every request would cost a round trip each. An instance that is
 * serving a key in a burst (reservations less than LEASE_BURST_MS apart) reserves a few spare
 * units with the next one (a lease; doubling up to MAX_LEASE_UNITS) and spends them locally. A
 * lease is at most 1/LEASE_DIVISOR of what remains in the window, so leases shrink to nothing
 * near the limit (where every unit is asked for), and a lease left unused for LEASE_IDLE_MS is
 * given back. The price: while another instance holds unused leased units, a request may be
 * refused slightly before the limit (at most LEASE_DIVISOR-th of the remainder per instance,
 * for a second or two); never after it. Once Redis says a key has no unit left, the instance
 * refuses it locally for EXHAUSTED_RECHECK_MS before asking again (floods past the limit cost
 * no round trip each either).
 *
 * Redis unavailable: the limiter fails open (allowed), logs once per outage, and calls
 * onFailOpen for each such decision (a metric). Keys: `rate:<name>:<window>:<sha256(key)>`,
 * expiring with their window; the subject or address itself is never stored.
 */
export interface RateLimitDecision {
  allowed: boolean
  /** Units allowed per window (RateLimit-Limit). */
  limit: number
  /** Units left in the current window, as far as this instance knows (RateLimit-Remaining). */
  remaining: number
  /** Seconds until the window ends (RateLimit-Reset; Retry-After when refused). */
  resetSeconds: number
}

export interface RateLimiter {
  readonly kind: 'memory' | 'redis'
  readonly limit: number
  /** Takes `units` (default 1) from `key`'s budget for the current window, if they are all there. */
  consume: (key: string, units?: number) => Promise<RateLimitDecision>
  close: () => Promise<void>
}

export interface RateLimiterOptions {
  /** Which limit (part of the Redis key): e.g. 'urls', 'unauthenticated'. */
  name: string
  /** Units per window. */
  limit: number
  windowMs?: number
  /** Wall clock in ms; tests inject their own. */
  now?: () => number
}

export interface RedisRateLimiterOptions extends RateLimiterOptions {
  redis: SharedRedis
  log: SharedStateLogger
  /** Called for each decision made without Redis (allowed because Redis failed). */
  onFailOpen?: () => void
}

export const RATE_LIMIT_WINDOW_MS = 60_000
/** Reservations closer together than this are a burst: the next one leases spare units. */
export const LEASE_BURST_MS = 50
/** A lease is at most this fraction of what remains of the window's budget. */
export const LEASE_DIVISOR = 50
export const MAX_LEASE_UNITS = 1000
/** Leased units unused for this long go back to the shared counter. */
export const LEASE_IDLE_MS = 1000
/** A key found without units is refused locally for this long before Redis is asked again. */
export const EXHAUSTED_RECHECK_MS = 2 * LEASE_IDLE_MS

interface Window { index: number, resetSeconds: number, endsAt: number }

function currentWindow (now: number, windowMs: number): Window {
  const index = Math.floor(now / windowMs)
  const endsAt = (index + 1) * windowMs
  return { index, endsAt, resetSeconds: Math.max(1, Math.ceil((endsAt - now) / 1000)) }
}

function assertUnits (units: number): void {
  if (!Number.isSafeInteger(units) || units < 1) throw new RangeError('units must be a positive integer')
}

export function createMemoryRateLimiter ({ limit, windowMs = RATE_LIMIT_WINDOW_MS, now = Date.now }: RateLimiterOptions): RateLimiter {
  const used = new Map<string, number>()
  let windowIndex = -1
  return {
    kind: 'memory',
    limit,
    async consume (key, units = 1) {
      assertUnits(units)
      const window = currentWindow(now(), windowMs)
      // A new window forgets every count at once: no per-key expiry to keep.
      if (window.index !== windowIndex) {
        used.clear()
        windowIndex = window.index
      }
      const before = used.get(key) ?? 0
      if (before + units > limit) return { allowed: false, limit, remaining: Math.max(0, limit - before), resetSeconds: window.resetSeconds }
      used.set(key, before + units)
      return { allowed: true, limit, remaining: limit - before - units, resetSeconds: window.resetSeconds }
    },
    async close () {
      used.clear()
    }
  }
}

/**
 * KEYS[1] counter; ARGV: units needed, spare units wanted, limit, lease divisor, TTL in ms.
 * Grants the needed units plus up to the wanted spare ones if they fit under the limit, else nothing.
 * Returns { units granted, counter after }.
 */
const RESERVE_SCRIPT = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local need = tonumber(ARGV[1])
local limit = tonumber(ARGV[3])
if used + need > limit then return {0, used} end
local spare = math.floor((limit - used - need) / tonumber(ARGV[4]))
local grant = need + math.max(0, math.min(tonumber(ARGV[2]), spare))
used = redis.call('INCRBY', KEYS[1], grant)
if used == grant then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
return {grant, used}
`
/** KEYS[1] counter; ARGV[1] unused leased units to give back (only while the window's counter exists). */
const RELEASE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECRBY', KEYS[1], ARGV[1]) end
return 0
`

interface Lease {
  window: number
  /** Leased units not yet spent. */
  units: number
  /** The shared counter as last seen. */
  used: number
  /**
   * Until when (ms) Redis is taken to have no unit left for this key. Not the whole window: units
   * leased elsewhere and given back may free some; asked again after EXHAUSTED_RECHECK_MS.
   */
  exhaustedUntil: number
  /** Spare units asked for with the next reservation. */
  spare: number
  lastReserveAt: number
  lastUseAt: number
  /** The reservation in flight for this key: concurrent requests wait for it rather than send their own. */
  pending?: Promise<unknown>
}

export function createRedisRateLimiter (options: RedisRateLimiterOptions): RateLimiter {
  const { name, limit, windowMs = RATE_LIMIT_WINDOW_MS, now = Date.now, redis, log, onFailOpen } = options
  const leases = new Map<string, Lease>()
  let failingOpen = false

  const counterKey = (key: string, window: number) => redis.key(`rate:${name}:${window}:${keyHash(key)}`)

  function failOpen (lease: Lease, window: Window, error?: unknown): RateLimitDecision {
    if (!failingOpen) {
      failingOpen = true
      log.warn({ rateLimit: name, reason: error === undefined ? 'not connected' : redisErrorReason(error) }, 'Redis unavailable: rate limit not enforced until it returns')
    }
    onFailOpen?.()
    return { allowed: true, limit, remaining: Math.max(0, limit - lease.used), resetSeconds: window.resetSeconds }
  }

  async function reserve (key: string, lease: Lease, units: number, window: Window, at: number): Promise<RateLimitDecision> {
    lease.spare = at - lease.lastReserveAt < LEASE_BURST_MS ? Math.min(Math.max(1, lease.spare * 2), MAX_LEASE_UNITS) : 0
    lease.lastReserveAt = at
    let granted: number
    let used: number
    try {
      const ttlMs = window.endsAt - at + 5000
      const reply = await redis.client.eval(RESERVE_SCRIPT, 1, counterKey(key, window.index), units, lease.spare, limit, LEASE_DIVISOR, ttlMs) as [number, number]
      ;[granted, used] = reply
    } catch (error) {
      return failOpen(lease, window, error)
    }
    if (failingOpen) {
      failingOpen = false
      log.info({ rateLimit: name }, 'Redis available again: rate limit enforced')
    }
    lease.used = Math.max(lease.used, used)
    if (granted === 0) {
      // Nothing left at all (not merely too little for this many units): refuse locally for a while.
      if (used >= limit) lease.exhaustedUntil = Math.min(at + EXHAUSTED_RECHECK_MS, window.endsAt)
      return { allowed: false, limit, remaining: Math.max(0, limit - used), resetSeconds: window.resetSeconds }
    }
    lease.units += granted - units
    lease.lastUseAt = at
    return { allowed: true, limit, remaining: Math.max(0, limit - used + lease.units), resetSeconds: window.resetSeconds }
  }

  /** Drops leases of past windows and gives back leased units left unused. */
  function sweep (): void {
    const at = now()
    const window = currentWindow(at, windowMs)
    for (const [key, lease] of leases) {
      if (lease.window !== window.index) {
        leases.delete(key)
      } else if (lease.units > 0 && at - lease.lastUseAt >= LEASE_IDLE_MS && redis.isReady()) {
        const units = lease.units
        lease.units = 0
        redis.client.eval(RELEASE_SCRIPT, 1, counterKey(key, lease.window), units).catch(() => {})
      }
    }
  }
  const sweeper = setInterval(sweep, LEASE_IDLE_MS / 2)
  sweeper.unref()

  return {
    kind: 'redis',
    limit,
    async consume (key, units = 1) {
      assertUnits(units)
      const at = now()
      const window = currentWindow(at, windowMs)
      let lease = leases.get(key)
      if (lease === undefined || lease.window !== window.index) {
        lease = { window: window.index, units: 0, used: 0, exhaustedUntil: 0, spare: 0, lastReserveAt: -Infinity, lastUseAt: at }
        leases.set(key, lease)
      }
      if (units > limit) return { allowed: false, limit, remaining: Math.max(0, limit - lease.used), resetSeconds: window.resetSeconds }
      for (;;) {
        if (lease.units >= units) {
          lease.units -= units
          lease.lastUseAt = at
          return { allowed: true, limit, remaining: Math.max(0, limit - lease.used + lease.units), resetSeconds: window.resetSeconds }
        }
        if (at < lease.exhaustedUntil) return { allowed: false, limit, remaining: 0, resetSeconds: window.resetSeconds }
        if (lease.pending === undefined) break
        // One reservation per key in flight: its spare units may serve this request too.
        await lease.pending
      }
      if (!redis.isReady()) return failOpen(lease, window)
      const reserving = reserve(key, lease, units, window, at)
      const current = lease
      current.pending = reserving
      try {
        return await reserving
      } finally {
        if (current.pending === reserving) current.pending = undefined
      }
    },
    async close () {
      clearInterval(sweeper)
      // Give back what this instance leased but did not spend, so other instances can use it.
      const window = currentWindow(now(), windowMs).index
      const releases = [...leases].filter(([, lease]) => lease.window === window && lease.units > 0)
        .map(([key, lease]) => redis.client.eval(RELEASE_SCRIPT, 1, counterKey(key, lease.window), lease.units).catch(() => {}))
      leases.clear()
      await Promise.all(releases)
    }
  }
}
