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
 *   may depend on any claim of the token), hashed with SHA-256 (decisionKey): a fixed ~44-byte key per
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

/** How many checks of one request are asked: one batch round trip, or single checks a few at a time. */
export type ManyChecks =
  | { askMany: (authorization: string, queries: readonly PermissionQuery[]) => Promise<PermissionAnswer[]> }
  | { concurrency: number }

/** A key asked in a batch round trip: its decision is `batch`'s answer at `index`. */
interface BatchSlot {
  readonly batch: Promise<CheckedDecision[]>
  readonly index: number
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
 * SHA-256 of the Authorization header's SHA-256 and the query, newline-separated. Only the subject (a
 * JWT claim) may hold a newline: the header hash, action, bucket and key cannot, so no two queries
 * make the same string. The header is hashed on its own so that a batch hashes its 1–2 KB token once
 * and then only each item's short query, all with one-shot hashing (no hash object per item).
 */
export function decisionKey (authorization: string, query: PermissionQuery): string {
  return keyUnder(sha256(authorization, 'base64'), query)
}

/** decisionKey for many queries of one Authorization header (the header hashed once). */
export function decisionKeys (authorization: string, queries: readonly PermissionQuery[]): string[] {
  const authorizationHash = sha256(authorization, 'base64')
  return queries.map((query) => keyUnder(authorizationHash, query))
}

function keyUnder (authorizationHash: string, query: PermissionQuery): string {
  return sha256(`${authorizationHash}\n${query.subject}\n${query.action}\n${query.bucket}\n${query.key}`, 'base64')
}

const DECIDED: Record<'allowed' | 'denied', PermissionDecision> = { allowed: Object.freeze({ outcome: 'allowed' }), denied: Object.freeze({ outcome: 'denied' }) }

export function createCachingPermissionClient (client: AskingClient, { maxEntries, maxTtlSeconds, now = Date.now, shared }: DecisionCacheOptions) {
  const cache = new ExpiringLru<PermissionDecision>(maxEntries)
  /**
   * Decisions being asked, by key. A batch round trip's keys share its one promise (with their
   * index in it) instead of a promise each; a request that joins one gets its own (pendingFor).
   */
  const inFlight = new Map<string, Promise<CheckedDecision> | BatchSlot>()
  const pendingFor = (key: string): Promise<CheckedDecision> | undefined => {
    const pending = inFlight.get(key)
    if (pending === undefined || pending instanceof Promise) return pending
    return pending.batch.then((decided) => decided[pending.index] as CheckedDecision)
  }
  /** Bumped by forgetAll(): answers asked before it are not stored. */
  let generation = 0

  /** Stores a reusable answer locally and in the shared store (counted from when it was asked, RFC 9111). */
  function remember (key: string, { decision, maxAgeSeconds }: PermissionAnswer, askedAt: number, notAfterMs: number, generationAsked: number): void {
    // Not stored when forgetAll() ran meanwhile: the answer may predate a revocation.
    if (generationAsked !== generation) return
    if (maxAgeSeconds <= 0 || (decision.outcome !== 'allowed' && decision.outcome !== 'denied')) return
    const expiresAt = Math.min(askedAt + Math.min(maxAgeSeconds, maxTtlSeconds) * 1000, notAfterMs)
    // Negated so that an unknown exp (NaN) stores nothing.
    if (!(expiresAt > askedAt)) return
    cache.set(key, decision, expiresAt)
    // Not awaited: this request need not wait for Redis (the store never rejects on failure).
    if (shared !== undefined) void shared.set(key, decision.outcome, expiresAt, decision.outcome === 'allowed' ? decision.limits : undefined).catch(() => {})
  }

  /** The shared store's decision for `key`, if it has a live one (then also kept locally). */
  async function peerDecision (key: string, notAfterMs: number): Promise<PermissionDecision | undefined> {
    if (shared === undefined) return undefined
    const generationAsked = generation
    const known = await shared.get(key)
    if (known === undefined) return undefined
    const expiresAt = Math.min(known.expiresAtMs, notAfterMs)
    if (!(expiresAt > now())) return undefined
    const decision = known.outcome === 'allowed' && known.limits !== undefined
      ? Object.freeze({ outcome: 'allowed' as const, limits: known.limits })
      : DECIDED[known.outcome]
    if (generationAsked === generation) cache.set(key, decision, expiresAt)
    return decision
  }

  /** The shared store's answer if it has one, else the service's (stored locally and shared when reusable). */
  async function lookUp (key: string, authorization: string, query: PermissionQuery, askedAt: number, notAfterMs: number): Promise<CheckedDecision> {
    const generationAsked = generation
    const peer = await peerDecision(key, notAfterMs)
    if (peer !== undefined) return { decision: peer, source: 'peer' }
    const answer = await client.ask(authorization, query)
    remember(key, answer, askedAt, notAfterMs, generationAsked)
    return { decision: answer.decision, source: 'service' }
  }

  /** lookUp for many keys at once: the shared store for each, then one batch round trip for the rest. */
  async function lookUpMany (entries: ReadonlyArray<{ key: string, query: PermissionQuery }>, authorization: string, askedAt: number, notAfterMs: number,
    askMany: (authorization: string, queries: readonly PermissionQuery[]) => Promise<PermissionAnswer[]>): Promise<CheckedDecision[]> {
    const decided: CheckedDecision[] = new Array(entries.length)
    const generationAsked = generation
    const rest: number[] = []
    if (shared === undefined) {
      // No shared store: no promise per entry (a batch has up to a thousand).
      for (let index = 0; index < entries.length; index++) rest.push(index)
    } else {
      const peers = await Promise.all(entries.map(({ key }) => peerDecision(key, notAfterMs)))
      peers.forEach((decision, index) => {
        if (decision === undefined) rest.push(index)
        else decided[index] = { decision, source: 'peer' }
      })
    }
    if (rest.length > 0) {
      const answers = await askMany(authorization, rest.map((index) => (entries[index] as { query: PermissionQuery }).query))
      rest.forEach((index, n) => {
        const answer = answers[n] as PermissionAnswer
        remember((entries[index] as { key: string }).key, answer, askedAt, notAfterMs, generationAsked)
        decided[index] = { decision: answer.decision, source: 'service' }
      })
    }
    return decided
  }

  /** The decision for `query`, asking the service only when no reusable answer is stored or in flight. */
  async function check (authorization: string, query: PermissionQuery, notAfterMs: number): Promise<CheckedDecision> {
    if (maxEntries <= 0) return { decision: (await client.ask(authorization, query)).decision, source: 'service' }

    const key = decisionKey(authorization, query)
    const askedAt = now()
    const stored = cache.get(key, askedAt)
    if (stored !== undefined) return { decision: stored, source: 'cache' }
    const pending = pendingFor(key)
    if (pending !== undefined) return { decision: (await pending).decision, source: 'shared' }

    const asking = lookUp(key, authorization, query, askedAt, notAfterMs)
    inFlight.set(key, asking)
    try {
      return await asking
    } finally {
      if (inFlight.get(key) === asking) inFlight.delete(key)
    }
  }

  /**
   * The decisions for many queries of one caller, in order. Identical queries are decided once;
   * stored and in-flight decisions are used as by `check`; the rest are asked with `how`: one
   * batch round trip (whose keys are in flight meanwhile, so other requests join them), or single
   * checks, `concurrency` at a time.
   */
  async function checkMany (authorization: string, queries: readonly PermissionQuery[], notAfterMs: number, how: ManyChecks): Promise<CheckedDecision[]> {
    const indexesByKey = new Map<string, number[]>()
    const queryByKey = new Map<string, PermissionQuery>()
    const keys = decisionKeys(authorization, queries)
    queries.forEach((query, index) => {
      const key = keys[index] as string
      const indexes = indexesByKey.get(key)
      if (indexes === undefined) {
        indexesByKey.set(key, [index])
        queryByKey.set(key, query)
      } else {
        indexes.push(index)
      }
    })

    const results: CheckedDecision[] = new Array(queries.length)
    const settle = (key: string, checked: CheckedDecision) => {
      for (const index of indexesByKey.get(key) as number[]) results[index] = checked
    }

    const askedAt = now()
    const joined: Array<Promise<void>> = []
    const toAsk: Array<{ key: string, query: PermissionQuery }> = []
    for (const [key, query] of queryByKey) {
      if (maxEntries > 0) {
        const stored = cache.get(key, askedAt)
        if (stored !== undefined) { settle(key, { decision: stored, source: 'cache' }); continue }
        const pending = pendingFor(key)
        if (pending !== undefined) { joined.push(pending.then(({ decision }) => settle(key, { decision, source: 'shared' }))); continue }
      }
      toAsk.push({ key, query })
    }

    if ('askMany' in how) {
      const asking = lookUpMany(toAsk, authorization, askedAt, notAfterMs, how.askMany)
      // Each key is in flight until the batch is decided, so identical checks of other requests join it.
      const slots: BatchSlot[] = []
      if (maxEntries > 0) {
        toAsk.forEach(({ key }, index) => {
          const slot = { batch: asking, index }
          inFlight.set(key, slot)
          slots.push(slot)
        })
      }
      try {
        const decided = await asking
        toAsk.forEach(({ key }, index) => settle(key, decided[index] as CheckedDecision))
      } finally {
        for (const slot of slots) {
          const { key } = toAsk[slot.index] as { key: string }
          if (inFlight.get(key) === slot) inFlight.delete(key)
        }
      }
    } else {
      let next = 0
      const worker = async () => {
        while (next < toAsk.length) {
          const { key, query } = toAsk[next++] as { key: string, query: PermissionQuery }
          settle(key, await check(authorization, query, notAfterMs))
        }
      }
      await Promise.all(Array.from({ length: Math.min(how.concurrency, toAsk.length) }, worker))
    }
    await Promise.all(joined)
    return results
  }

  return {
    /**
     * The decision for `query`, asking the service only when no reusable answer is stored or in flight.
     * `notAfterMs`: when the token expires (its `exp` × 1000); no stored decision outlives it.
     */
    check,
    checkMany,
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
