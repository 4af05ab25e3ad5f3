import type { SharedRedis, SharedStateLogger } from './redis.js'
import { redisErrorReason } from './redis.js'
import { parseUploadLimits, type UploadLimits } from '../uploads/policy.js'

/**
 * Permission decisions shared by all instances, behind each instance's LRU (decision-cache.ts):
 * a decision the permission service let us reuse, asked on one instance, is reused on the
 * others until it expires (the caller computes the expiry: max-age, capped, never past `exp`).
 *
 * Keys are the decision cache's key, `decisionKey()` (SHA-256 of the Authorization header and the
 * query): never a token. Values are the outcome, when it was stored and until when it holds
 * (Redis expires the key then too), and an allowed decision's upload limits (sizes, media type
 * patterns, a flag: never a token or a URL), as `outcome:storedAt:expiresAt[:limitsJson]`.
 * Only `allowed` and `denied` are stored; limits read back are checked like the permission
 * service's (src/uploads/policy.ts): a value that does not parse is a miss.
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
  /** An allowed decision's upload limits. */
  limits?: UploadLimits
}

export interface SharedDecisionStore {
  get: (decisionKey: string) => Promise<SharedDecision | undefined>
  /** Stores until `expiresAtMs` (wall clock); nothing if that is not in the future. */
  set: (decisionKey: string, outcome: SharedOutcome, expiresAtMs: number, limits?: UploadLimits) => Promise<void>
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
      const [outcome, storedAt, expiresAt, ...rest] = value.split(':')
      const expiresAtMs = Number(expiresAt)
      if (Number(storedAt) < notBefore || !(expiresAtMs > now())) return undefined
      if (outcome !== 'allowed' && outcome !== 'denied') return undefined
      if (rest.length === 0) return { outcome, expiresAtMs }
      if (outcome !== 'allowed') return undefined
      let limits
      try {
        limits = parseUploadLimits(JSON.parse(rest.join(':')))
      } catch {
        return undefined
      }
      return limits.ok ? { outcome, expiresAtMs, limits: limits.limits } : undefined
    },
    async set (decisionKey, outcome, expiresAtMs, limits) {
      const key = redisKey(decisionKey)
      const at = now()
      const ttlMs = Math.floor(expiresAtMs - at)
      if (ttlMs <= 0) return
      if (!redis.isReady()) {
        failed({ code: 'not connected' })
        return
      }
      try {
        const tail = outcome === 'allowed' && limits !== undefined ? `:${JSON.stringify(limits)}` : ''
        await redis.client.set(key, `${outcome}:${at}:${Math.floor(expiresAtMs)}${tail}`, 'PX', ttlMs)
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
