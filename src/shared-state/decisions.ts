import type { SharedRedis, SharedStateLogger } from './redis.js'
import { redisErrorReason } from './redis.js'

/**
 * Permission decisions shared by all instances, behind each instance's LRU (decision-cache.ts):
 * a decision the permission service let us reuse, asked on one instance, is reused on the
 * others until it expires (the caller computes the expiry: max-age, capped, never past `exp`).
 *
 * Keys are the decision cache's key, `decisionKey()` (SHA-256 of the Authorization header and the
 * query): never a token. Values are the outcome, when it was stored and until when it holds
 * (Redis expires the key then too). Only `allowed` and `denied` are stored.
 *
 * Best effort: any failure (Redis down, timeout) is a miss on `get` and nothing on `set`; the
 * local cache and the permission service carry on. Logged once per outage; onFailure counts.
 *
 * dropBefore(t): decisions stored before t are ignored from now on by this instance (called when a
 * revocation is created, so no decision from before it is reused once it is lifted either).
 */
export type SharedOutcome = 'allowed' | 'denied'

export interface SharedDecision {
  outcome: SharedOutcome
  /** Wall clock (ms) until which it may be reused, as its first asker computed it. */
  expiresAtMs: number
}

export interface SharedDecisionStore {
  get: (decisionKey: string) => Promise<SharedDecision | undefined>
  /** Stores until `expiresAtMs` (wall clock); nothing if that is not in the future. */
  set: (decisionKey: string, outcome: SharedOutcome, expiresAtMs: number) => Promise<void>
  dropBefore: (timeMs: number) => void
}

export interface SharedDecisionStoreOptions {
  redis: SharedRedis
  log: SharedStateLogger
  /** Called for each get/set that failed (a metric). */
  onFailure?: () => void
  now?: () => number
}

/** decisionKey() is a base64 SHA-256: 43 characters and padding. Anything else may be a secret. */
const HASHED_KEY = /^[A-Za-z0-9+/_-]{43}=?$/

export function createSharedDecisionStore ({ redis, log, onFailure, now = Date.now }: SharedDecisionStoreOptions): SharedDecisionStore {
  let failing = false
  let notBefore = 0

  const redisKey = (decisionKey: string) => {
    if (!HASHED_KEY.test(decisionKey)) throw new RangeError('shared decisions are stored under a SHA-256 key only')
    return redis.key(`decision:${decisionKey}`)
  }
  const failed = (error: unknown) => {
    onFailure?.()
    if (failing) return
    failing = true
    log.warn({ reason: redisErrorReason(error) }, 'Redis unavailable: permission decisions not shared until it returns')
  }
  const succeeded = () => {
    if (!failing) return
    failing = false
    log.info('Redis available again: permission decisions shared')
  }

  return {
    async get (decisionKey) {
      const key = redisKey(decisionKey)
      if (!redis.isReady()) {
        failed({ code: 'not connected' })
        return undefined
      }
      let value: string | null
      try {
        value = await redis.client.get(key)
      } catch (error) {
        failed(error)
        return undefined
      }
      succeeded()
      if (value === null) return undefined
      const [outcome, storedAt, expiresAt] = value.split(':')
      const expiresAtMs = Number(expiresAt)
      if (Number(storedAt) < notBefore || !(expiresAtMs > now())) return undefined
      return outcome === 'allowed' || outcome === 'denied' ? { outcome, expiresAtMs } : undefined
    },
    async set (decisionKey, outcome, expiresAtMs) {
      const key = redisKey(decisionKey)
      const at = now()
      const ttlMs = Math.floor(expiresAtMs - at)
      if (ttlMs <= 0) return
      if (!redis.isReady()) {
        failed({ code: 'not connected' })
        return
      }
      try {
        await redis.client.set(key, `${outcome}:${at}:${Math.floor(expiresAtMs)}`, 'PX', ttlMs)
      } catch (error) {
        failed(error)
        return
      }
      succeeded()
    },
    dropBefore (timeMs) {
      notBefore = Math.max(notBefore, timeMs)
    }
  }
}
