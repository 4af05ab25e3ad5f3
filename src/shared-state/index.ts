import type { Config } from '../config/config.js'
import { createSharedRedis, type SharedRedis, type SharedStateLogger } from './redis.js'
import { createMemoryRateLimiter, createRedisRateLimiter, type RateLimiter } from './rate-limit.js'
import { createMemoryRevocationStore, createRedisRevocationStore, type RevocationStore } from './revocations.js'
import { createSharedDecisionStore, type SharedDecisionStore } from './decisions.js'

/**
 * Everything instances share, built from the configuration: through Redis when REDIS_URL is
 * set, in this process otherwise (one instance; `npm run dev` needs nothing more).
 */
export interface SharedState {
  kind: 'redis' | 'memory'
  /** Absent without REDIS_URL. */
  redis?: SharedRedis
  /** Per subject: URLs per minute (RATE_LIMIT_URLS_PER_MINUTE). */
  urlLimiter: RateLimiter
  /** Per client address: failed authentications per minute (RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE). */
  unauthenticatedLimiter: RateLimiter
  revocations: RevocationStore
  /** For the decision cache's `shared` option; absent without Redis (the local LRU is all there is). */
  decisions?: SharedDecisionStore
  close: () => Promise<void>
}

export interface SharedStateHooks {
  /** A rate-limit decision made without Redis (allowed); for a counter. */
  onRateLimitFailOpen?: (limit: 'urls' | 'unauthenticated') => void
  /** A shared-decision get/set that failed; for a counter. */
  onSharedDecisionFailure?: () => void
}

export interface SharedStateOptions {
  /** Rate-limit window (default a minute); tests shorten it to see counts reset. */
  rateLimitWindowMs?: number
}

export function createSharedState (
  config: Pick<Config, 'redis' | 'rateLimits' | 'revocations'>,
  log: SharedStateLogger,
  hooks: SharedStateHooks = {},
  { rateLimitWindowMs: windowMs }: SharedStateOptions = {}
): SharedState {
  const { rateLimits } = config
  if (config.redis === undefined) {
    log.info('no REDIS_URL: rate limits and revocations are kept in memory, for this instance only')
    const urlLimiter = createMemoryRateLimiter({ name: 'urls', limit: rateLimits.urlsPerMinute, windowMs })
    const unauthenticatedLimiter = createMemoryRateLimiter({ name: 'unauthenticated', limit: rateLimits.unauthenticatedPerMinute, windowMs })
    const revocations = createMemoryRevocationStore()
    return {
      kind: 'memory',
      urlLimiter,
      unauthenticatedLimiter,
      revocations,
      async close () {
        await Promise.all([urlLimiter.close(), unauthenticatedLimiter.close(), revocations.close()])
      }
    }
  }

  const redis = createSharedRedis({ url: config.redis.url, keyPrefix: config.redis.keyPrefix, log })
  const urlLimiter = createRedisRateLimiter({ name: 'urls', limit: rateLimits.urlsPerMinute, windowMs, redis, log, onFailOpen: () => hooks.onRateLimitFailOpen?.('urls') })
  const unauthenticatedLimiter = createRedisRateLimiter({ name: 'unauthenticated', limit: rateLimits.unauthenticatedPerMinute, windowMs, redis, log, onFailOpen: () => hooks.onRateLimitFailOpen?.('unauthenticated') })
  const revocations = createRedisRevocationStore({ redis, log, failOpen: config.revocations.failOpen })
  const decisions = createSharedDecisionStore({ redis, log, onFailure: hooks.onSharedDecisionFailure })
  // No decision from before a revocation is reused, here or (through their own stores) elsewhere.
  revocations.onChange((change) => {
    if (change.type === 'created') decisions.dropBefore(Date.parse(change.revocation.createdAt))
  })
  return {
    kind: 'redis',
    redis,
    urlLimiter,
    unauthenticatedLimiter,
    revocations,
    decisions,
    async close () {
      await Promise.all([urlLimiter.close(), unauthenticatedLimiter.close(), revocations.close()])
      await redis.close()
    }
  }
}
