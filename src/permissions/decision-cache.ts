import { sha256 } from '../signing/sigv4.js'
import type { PermissionAnswer, PermissionDecision, PermissionQuery } from './permission-client.js'
import type { UploadLimits } from '../uploads/policy.js'

/**
 * Permission-decision cache in front of the permission client.
 *
 * - The permission service decides: an answer is reused only as long as its
 *   `Cache-Control: max-age` says (capped at `maxTtlSeconds`), and never past the
 *   token's `exp`. Only "allowed" and "denied" are reused; 401s and failures never.
 * - The key is the exact Authorization header, subject, action, bucket and key (a decision
 *   may depend on any claim of the token), hashed with SHA-256: a fixed ~44-byte key per
 *   entry instead of a 1–2 KB token plus a key of up to 1 KiB, and no live bearer tokens
 *   kept in the heap (or in a heap dump) for minutes.
 * - A decision is kept whole: an allowed one keeps its upload limits (`limits`), here and in the shared store.
 * - Bounded LRU (`maxEntries`); expired entries are dropped when met or evicted.
 * - Single flight: identical checks that arrive while one is in flight wait for its answer
 *   instead of asking again, whatever that answer is (even `no-store` or a failure): it is
 *   at most one round trip older than the one they would have got. Nothing is kept after.
 * - `maxEntries: 0` turns both off: every check asks the service.
 * - With a shared store (Redis, several instances), a local miss asks it before the service, and
 *   a reusable answer from the service is stored there too (same key, same expiry), so an answer
 *   asked on one instance is reused on the others. The store is best effort: a failure is a miss.
 */
export type DecisionSource = 'service' | 'cache' | 'shared' | 'peer'

export interface CheckedDecision {
  decision: PermissionDecision
  /**
   * service: asked for this request; cache: a stored answer; shared: another request's answer in
   * flight; peer: an answer another instance asked for (shared store).
   */
  source: DecisionSource
}

/** What the cache needs from a shared decision store (src/shared-state/decisions.ts). */
export interface SharedDecisions {
  /** A miss (undefined) on any failure. */
  get: (key: string) => Promise<{ outcome: 'allowed' | 'denied', expiresAtMs: number, limits?: UploadLimits } | undefined>
  /** Never rejects for a store failure. `limits`: an allowed decision's upload limits, kept with it. */
  set: (key: string, outcome: 'allowed' | 'denied', expiresAtMs: number, limits?: UploadLimits) => Promise<void>
}

export interface DecisionCacheOptions {
  /** Most decisions kept; 0 disables the cache and single flight. */
  maxEntries: number
  /** Upper bound on any max-age the permission service sends. */
  maxTtlSeconds: number
  /** Wall clock in ms (token `exp` is wall-clock time); tests inject their own. */
  now?: () => number
  /** Decisions shared with other instances, behind the local LRU; needs maxEntries > 0. */
  shared?: SharedDecisions
}

/** What the cache needs from the permission client. */
export interface AskingClient {
  ask: (authorization: string, query: PermissionQuery) => Promise<PermissionAnswer>
  close: () => Promise<void>
}

interface Entry<V> {
  value: V
  expiresAt: number
}

/** A Map-backed LRU whose entries also expire (Map iteration order = least recently used first). */
export class ExpiringLru<V> {
  readonly #entries = new Map<string, Entry<V>>()
  readonly #maxEntries: number

  constructor (maxEntries: number) {
    this.#maxEntries = maxEntries
  }

  get size (): number {
    return this.#entries.size
  }

  get (key: string, now: number): V | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    this.#entries.delete(key)
    if (now >= entry.expiresAt) return undefined
    this.#entries.set(key, entry)
    return entry.value
  }

  set (key: string, value: V, expiresAt: number): void {
    if (this.#maxEntries <= 0) return
    this.#entries.delete(key)
    while (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next()
      if (oldest.done === true) break
      this.#entries.delete(oldest.value)
    }
    this.#entries.set(key, { value, expiresAt })
  }

  clear (): void {
    this.#entries.clear()
  }
}

/**
 * SHA-256 of the exact header and query, newline-separated. Only the subject (a JWT claim) may hold
 * a newline: the header, action, bucket and key cannot, so no two queries make the same string.
 */
export function decisionKey (authorization: string, query: PermissionQuery): string {
  return sha256(`${authorization}\n${query.subject}\n${query.action}\n${query.bucket}\n${query.key}`, 'base64')
}

const DECIDED: Record<'allowed' | 'denied', PermissionDecision> = { allowed: Object.freeze({ outcome: 'allowed' }), denied: Object.freeze({ outcome: 'denied' }) }

export function createCachingPermissionClient (client: AskingClient, { maxEntries, maxTtlSeconds, now = Date.now, shared }: DecisionCacheOptions) {
  const cache = new ExpiringLru<PermissionDecision>(maxEntries)
  const inFlight = new Map<string, Promise<CheckedDecision>>()
  /** Bumped by forgetAll(): answers asked before it are not stored. */
  let generation = 0

  /** The shared store's answer if it has one, else the service's (stored locally and shared when reusable). */
  async function lookUp (key: string, authorization: string, query: PermissionQuery, askedAt: number, notAfterMs: number): Promise<CheckedDecision> {
    const generationAsked = generation
    if (shared !== undefined) {
      const known = await shared.get(key)
      if (known !== undefined) {
        const expiresAt = Math.min(known.expiresAtMs, notAfterMs)
        const decision = known.outcome === 'allowed' && known.limits !== undefined
          ? Object.freeze({ outcome: 'allowed' as const, limits: known.limits })
          : DECIDED[known.outcome]
        if (expiresAt > now()) {
          if (generationAsked === generation) cache.set(key, decision, expiresAt)
          return { decision, source: 'peer' }
        }
      }
    }
    const { decision, maxAgeSeconds } = await client.ask(authorization, query)
    // Not stored when forgetAll() ran meanwhile: the answer may predate a revocation.
    if (generationAsked === generation && maxAgeSeconds > 0 && (decision.outcome === 'allowed' || decision.outcome === 'denied')) {
      // Counted from when we asked (RFC 9111 counts the round trip into the answer's age).
      const expiresAt = Math.min(askedAt + Math.min(maxAgeSeconds, maxTtlSeconds) * 1000, notAfterMs)
      if (expiresAt > askedAt) {
        cache.set(key, decision, expiresAt)
        // Not awaited: this request need not wait for Redis (the store never rejects on failure).
        if (shared !== undefined) void shared.set(key, decision.outcome, expiresAt, decision.outcome === 'allowed' ? decision.limits : undefined).catch(() => {})
      }
    }
    return { decision, source: 'service' }
  }

  return {
    /**
     * The decision for `query`, asking the service only when no reusable answer is stored or in flight.
     * `notAfterMs`: when the token expires (its `exp` × 1000); no stored decision outlives it.
     */
    async check (authorization: string, query: PermissionQuery, notAfterMs: number): Promise<CheckedDecision> {
      if (maxEntries <= 0) return { decision: (await client.ask(authorization, query)).decision, source: 'service' }

      const key = decisionKey(authorization, query)
      const askedAt = now()
      const stored = cache.get(key, askedAt)
      if (stored !== undefined) return { decision: stored, source: 'cache' }
      const pending = inFlight.get(key)
      if (pending !== undefined) return { decision: (await pending).decision, source: 'shared' }

      const asking = lookUp(key, authorization, query, askedAt, notAfterMs)
      inFlight.set(key, asking)
      try {
        return await asking
      } finally {
        if (inFlight.get(key) === asking) inFlight.delete(key)
      }
    },
    /** Drops every stored decision (a revocation was made), and keeps answers already on their way from being stored. */
    forgetAll (): void {
      generation++
      cache.clear()
      inFlight.clear()
    },
    /** Decisions currently stored (expired ones included until they are met or evicted). */
    get size (): number {
      return cache.size
    },
    async close (): Promise<void> {
      cache.clear()
      await client.close()
    }
  }
}

export type CachingPermissionClient = ReturnType<typeof createCachingPermissionClient>
