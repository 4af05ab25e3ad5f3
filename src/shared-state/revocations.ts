import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import { redisErrorReason, SharedStateUnavailableError, type SharedRedis, type SharedStateLogger } from './redis.js'

/**
 * The revocation switch: cut off a subject, or every key under a prefix (in one bucket or all),
 * for a while or until lifted. URLs issued before stay valid until they expire.
 *
 * Every instance answers `check()` from a local copy (no round trip). With Redis, revocations
 * live in one hash (surviving restarts of the instances) and every change is made by a Lua
 * script that also bumps a version counter and publishes the change, so every instance sees it
 * within milliseconds. An instance resynchronises from the hash when it (re)subscribes, when it
 * sees a gap in the versions (a missed message), and every RESYNC_INTERVAL_MS anyway.
 *
 * When the local copy can be trusted: the subscription is up AND a full sync completed since it
 * was (re)established AND the last successful sync is less than STALE_AFTER_MS old (a silently
 * dead connection delivers nothing). Otherwise `check()` answers `unavailable`, and the caller
 * refuses (fail closed), unless the store was made with failOpen (REVOCATION_FAIL_OPEN=true):
 * then the last known copy decides.
 *
 * Without Redis (createMemoryRevocationStore) revocations live in this process only.
 */
export interface Revocation {
  id: string
  subject?: string
  keyPrefix?: string
  /** With keyPrefix: only in this bucket (every bucket when absent). */
  bucket?: string
  /** ISO 8601. */
  createdAt: string
  /** ISO 8601; absent: until lifted. */
  expiresAt?: string
}

export type NewRevocation = ({ subject: string, keyPrefix?: undefined, bucket?: undefined } | { keyPrefix: string, bucket?: string, subject?: undefined }) & {
  /** Lifted by itself after this many seconds. */
  expiresInSeconds?: number
}

export type RevocationCheck =
  | { status: 'clear' }
  | { status: 'revoked', revocation: Revocation }
  /** The local copy cannot be trusted (Redis unavailable) and the store fails closed. */
  | { status: 'unavailable' }

export type RevocationChange = { type: 'created' | 'deleted', revocation: Revocation }

export interface RevocationStore {
  readonly kind: 'memory' | 'redis'
  /** Throws SharedStateUnavailableError when Redis cannot be reached. */
  create: (input: NewRevocation) => Promise<Revocation>
  /** In force now, oldest first. Throws SharedStateUnavailableError when Redis cannot be reached. */
  list: () => Promise<Revocation[]>
  /** Lifts a revocation; false if there is none with this id. Throws SharedStateUnavailableError when Redis cannot be reached. */
  delete: (id: string) => Promise<boolean>
  /** Local lookup: is a URL for `subject` on bucket/key refused? */
  check: (subject: string, bucket: string, key: string) => RevocationCheck
  /** Whether the local copy is trusted right now. */
  isAvailable: () => boolean
  /** Resolves true once the local copy is trusted, false after `timeoutMs`. */
  whenAvailable: (timeoutMs: number) => Promise<boolean>
  /** Each change as this instance learns it (created here, by another instance, or found by a resync). Returns the unsubscribe function. */
  onChange: (listener: (change: RevocationChange) => void) => () => void
  close: () => Promise<void>
}

export interface RevocationStoreOptions {
  /** Wall clock in ms (expiry); tests inject their own. */
  now?: () => number
}

export interface RedisRevocationStoreOptions extends RevocationStoreOptions {
  redis: SharedRedis
  log: SharedStateLogger
  /** REVOCATION_FAIL_OPEN: when the local copy cannot be trusted, answer from it anyway. */
  failOpen?: boolean
  resyncIntervalMs?: number
  staleAfterMs?: number
}

export const RESYNC_INTERVAL_MS = 5000
export const STALE_AFTER_MS = 15_000

/** The revocations held locally, indexed for check(): subjects by name, prefixes in a short list. */
class RevocationIndex {
  readonly byId = new Map<string, Revocation>()
  readonly #bySubject = new Map<string, Revocation[]>()
  #prefixes: Revocation[] = []

  get size (): number {
    return this.byId.size
  }

  set (revocation: Revocation): boolean {
    const existed = this.byId.has(revocation.id)
    if (existed) this.delete(revocation.id)
    this.byId.set(revocation.id, revocation)
    if (revocation.subject !== undefined) {
      const list = this.#bySubject.get(revocation.subject) ?? []
      list.push(revocation)
      this.#bySubject.set(revocation.subject, list)
    } else {
      this.#prefixes.push(revocation)
    }
    return !existed
  }

  delete (id: string): Revocation | undefined {
    const revocation = this.byId.get(id)
    if (revocation === undefined) return undefined
    this.byId.delete(id)
    if (revocation.subject !== undefined) {
      const list = (this.#bySubject.get(revocation.subject) ?? []).filter((r) => r.id !== id)
      if (list.length === 0) this.#bySubject.delete(revocation.subject)
      else this.#bySubject.set(revocation.subject, list)
    } else {
      this.#prefixes = this.#prefixes.filter((r) => r.id !== id)
    }
    return revocation
  }

  match (subject: string, bucket: string, key: string, now: number): Revocation | undefined {
    const live = (r: Revocation) => r.expiresAt === undefined || Date.parse(r.expiresAt) > now
    const bySubject = this.#bySubject.get(subject)?.find(live)
    if (bySubject !== undefined) return bySubject
    return this.#prefixes.find((r) => live(r) && key.startsWith(r.keyPrefix as string) && (r.bucket === undefined || r.bucket === bucket))
  }
}

function newRevocation (input: NewRevocation, now: number): Revocation {
  const hasSubject = typeof input.subject === 'string' && input.subject !== ''
  const hasPrefix = typeof input.keyPrefix === 'string' && input.keyPrefix !== ''
  if (hasSubject === hasPrefix) throw new RangeError('a revocation names either a subject or a key prefix')
  if (input.expiresInSeconds !== undefined && !(Number.isSafeInteger(input.expiresInSeconds) && input.expiresInSeconds > 0)) {
    throw new RangeError('expiresInSeconds must be a positive integer')
  }
  const revocation: Revocation = { id: randomUUID(), createdAt: new Date(now).toISOString() }
  if (hasSubject) revocation.subject = input.subject
  else {
    revocation.keyPrefix = input.keyPrefix
    if (input.bucket !== undefined) revocation.bucket = input.bucket
  }
  if (input.expiresInSeconds !== undefined) revocation.expiresAt = new Date(now + input.expiresInSeconds * 1000).toISOString()
  return revocation
}

function isLive (revocation: Revocation, now: number): boolean {
  return revocation.expiresAt === undefined || Date.parse(revocation.expiresAt) > now
}

/** Oldest first; a stable sort keeps the order of equal times (creation order in memory). */
function byCreation (a: Revocation, b: Revocation): number {
  return a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0
}

function listeners () {
  const set = new Set<(change: RevocationChange) => void>()
  return {
    add (listener: (change: RevocationChange) => void) {
      set.add(listener)
      return () => { set.delete(listener) }
    },
    emit (change: RevocationChange) {
      for (const listener of set) {
        try {
          listener(change)
        } catch {
          // A listener's failure must not stop the others or the store.
        }
      }
    }
  }
}

export function createMemoryRevocationStore ({ now = Date.now }: RevocationStoreOptions = {}): RevocationStore {
  const index = new RevocationIndex()
  const changes = listeners()
  return {
    kind: 'memory',
    async create (input) {
      const revocation = newRevocation(input, now())
      index.set(revocation)
      changes.emit({ type: 'created', revocation })
      return revocation
    },
    async list () {
      const at = now()
      return [...index.byId.values()].filter((r) => isLive(r, at)).sort(byCreation)
    },
    async delete (id) {
      const revocation = index.delete(id)
      if (revocation === undefined) return false
      changes.emit({ type: 'deleted', revocation })
      return true
    },
    check (subject, bucket, key) {
      const revocation = index.match(subject, bucket, key, now())
      return revocation === undefined ? { status: 'clear' } : { status: 'revoked', revocation }
    },
    isAvailable: () => true,
    whenAvailable: async () => true,
    onChange: changes.add,
    async close () {}
  }
}

/** KEYS: hash, version counter; ARGV: id, revocation JSON, channel. */
const CREATE_SCRIPT = `
local version = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], '{"type":"created","version":' .. version .. ',"revocation":' .. ARGV[2] .. '}')
return version
`
/** KEYS: hash, version counter; ARGV: id, channel. Returns the deleted revocation's JSON, or nil. */
const DELETE_SCRIPT = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return nil end
redis.call('HDEL', KEYS[1], ARGV[1])
local version = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[2], '{"type":"deleted","version":' .. version .. ',"revocation":' .. old .. '}')
return old
`
/** KEYS: hash, version counter. One consistent snapshot: { version, [id, json, id, json…] }. */
const SNAPSHOT_SCRIPT = `
return { redis.call('GET', KEYS[2]) or '0', redis.call('HGETALL', KEYS[1]) }
`

interface ChangeMessage { type: 'created' | 'deleted', version: number, revocation: Revocation }

function parseMessage (text: string): ChangeMessage | undefined {
  try {
    const message = JSON.parse(text) as ChangeMessage
    if ((message.type === 'created' || message.type === 'deleted') && Number.isSafeInteger(message.version) && typeof message.revocation?.id === 'string') return message
  } catch {}
  return undefined
}

export function createRedisRevocationStore (options: RedisRevocationStoreOptions): RevocationStore {
  const { redis, log, failOpen = false, now = Date.now, resyncIntervalMs = RESYNC_INTERVAL_MS, staleAfterMs = STALE_AFTER_MS } = options
  const hashKey = redis.key('revocations')
  const versionKey = redis.key('revocations:version')
  const channel = redis.key('revocations')
  const index = new RevocationIndex()
  const changes = listeners()
  let version = 0
  let subscribed = false
  let lastSyncAt: number | undefined
  /** Messages that arrive while a snapshot is on its way: applied after it if newer. */
  let buffered: ChangeMessage[] | undefined
  let syncing: Promise<void> | undefined
  let closed = false
  let wasAvailable: boolean | undefined
  const availabilityWaiters = new Set<() => void>()

  const subscriber: Redis = redis.subscriber()

  function isAvailable (): boolean {
    return subscribed && lastSyncAt !== undefined && now() - lastSyncAt < staleAfterMs
  }

  /** Logs each change of availability once, and wakes whenAvailable() callers. */
  function noteAvailability (): void {
    const available = isAvailable()
    if (available) for (const wake of availabilityWaiters) wake()
    if (available === wasAvailable) return
    if (available) log.info({ revocations: index.size }, 'revocations synchronised with Redis')
    else if (wasAvailable === true) log.warn(failOpen ? 'revocations not synchronised with Redis: answering from the last known copy (REVOCATION_FAIL_OPEN)' : 'revocations not synchronised with Redis: refusing URLs until it returns')
    wasAvailable = available
  }

  function apply (message: ChangeMessage): void {
    if (message.version <= version) {
      // Old news, unless it contradicts the copy: Redis lost its data (a restart without persistence,
      // a flush) and numbers versions afresh. A resync puts the copy and the version right.
      const known = index.byId.has(message.revocation.id)
      if (known !== (message.type === 'created')) void sync()
      return
    }
    const gap = message.version > version + 1
    version = message.version
    if (message.type === 'created') {
      if (index.set(message.revocation)) changes.emit({ type: 'created', revocation: message.revocation })
    } else {
      const removed = index.delete(message.revocation.id)
      if (removed !== undefined) changes.emit({ type: 'deleted', revocation: removed })
    }
    if (gap) void sync()
  }

  const onMessage = (from: string, text: string) => {
    if (from !== channel) return
    const message = parseMessage(text)
    if (message === undefined) return
    if (buffered !== undefined) buffered.push(message)
    else apply(message)
  }
  /** Counts (re)subscriptions: a sync that began under an older one does not vouch for the current one. */
  let subscription = 0
  function subscribe (): void {
    subscriber.subscribe(channel).then(() => {
      subscription++
      subscribed = true
      void sync()
    }, (error: unknown) => {
      log.warn({ reason: redisErrorReason(error) }, 'could not subscribe to revocation changes')
    })
  }
  const onClose = () => {
    // Messages may be missed from now on: untrusted until resubscribed and resynchronised.
    subscribed = false
    lastSyncAt = undefined
    noteAvailability()
  }
  subscriber.on('message', onMessage)
  subscriber.on('ready', subscribe)
  subscriber.on('close', onClose)
  if (subscriber.status === 'ready') subscribe()

  async function snapshot (): Promise<{ version: number, revocations: Revocation[] }> {
    const [v, flat] = await redis.client.eval(SNAPSHOT_SCRIPT, 2, hashKey, versionKey) as [string, string[]]
    const revocations: Revocation[] = []
    for (let i = 1; i < flat.length; i += 2) {
      try {
        revocations.push(JSON.parse(flat[i] as string) as Revocation)
      } catch {}
    }
    return { version: Number(v), revocations }
  }

  /** Replaces the local copy with Redis' (announcing the differences), then applies what arrived meanwhile. */
  function sync (): Promise<void> {
    syncing ??= (async () => {
      const startedUnder = subscribed ? subscription : -1
      buffered = []
      try {
        const [snap] = await Promise.all([snapshot(), subscriber.ping()])
        const at = now()
        const seen = new Set<string>()
        for (const revocation of snap.revocations) {
          seen.add(revocation.id)
          if (index.set(revocation)) changes.emit({ type: 'created', revocation })
          // Expired ones leave Redis here (any instance may do it; deleting twice is harmless).
          if (!isLive(revocation, at)) void deleteInRedis(revocation.id).catch(() => {})
        }
        for (const id of [...index.byId.keys()]) {
          if (seen.has(id)) continue
          const removed = index.delete(id)
          if (removed !== undefined) changes.emit({ type: 'deleted', revocation: removed })
        }
        version = snap.version
        const pending = buffered
        buffered = undefined
        for (const message of pending) apply(message)
        if (subscribed && startedUnder === subscription) lastSyncAt = now()
      } catch (error) {
        if (wasAvailable === true) log.warn({ reason: redisErrorReason(error) }, 'revocation resync failed')
      } finally {
        const pending = buffered ?? []
        buffered = undefined
        for (const message of pending) apply(message)
        syncing = undefined
        noteAvailability()
        // Resubscribed while this sync ran: it may predate messages missed meanwhile.
        if (subscribed && startedUnder !== subscription && !closed) void sync()
      }
    })()
    return syncing
  }

  const resyncTimer = setInterval(() => {
    if (subscribed) void sync()
    else noteAvailability()
  }, resyncIntervalMs)
  resyncTimer.unref()

  async function deleteInRedis (id: string): Promise<Revocation | undefined> {
    const old = await redis.client.eval(DELETE_SCRIPT, 2, hashKey, versionKey, id, channel) as string | null
    return old === null ? undefined : JSON.parse(old) as Revocation
  }

  const unavailable = (what: string, error: unknown) => new SharedStateUnavailableError(what, redisErrorReason(error))

  return {
    kind: 'redis',
    async create (input) {
      const revocation = newRevocation(input, now())
      try {
        await redis.client.eval(CREATE_SCRIPT, 2, hashKey, versionKey, revocation.id, JSON.stringify(revocation), channel)
      } catch (error) {
        throw unavailable('could not store the revocation', error)
      }
      // In force here at once; the published message (same revocation) then only advances the version.
      if (index.set(revocation)) changes.emit({ type: 'created', revocation })
      return revocation
    },
    async list () {
      let snap
      try {
        snap = await snapshot()
      } catch (error) {
        throw unavailable('could not read the revocations', error)
      }
      const at = now()
      return snap.revocations.filter((r) => isLive(r, at)).sort(byCreation)
    },
    async delete (id) {
      let old
      try {
        old = await deleteInRedis(id)
      } catch (error) {
        throw unavailable('could not lift the revocation', error)
      }
      const removed = index.delete(id)
      if (removed !== undefined) changes.emit({ type: 'deleted', revocation: removed })
      return old !== undefined
    },
    check (subject, bucket, key) {
      if (!failOpen && !isAvailable()) return { status: 'unavailable' }
      const revocation = index.match(subject, bucket, key, now())
      return revocation === undefined ? { status: 'clear' } : { status: 'revoked', revocation }
    },
    isAvailable,
    whenAvailable (timeoutMs) {
      if (isAvailable()) return Promise.resolve(true)
      return new Promise((resolve) => {
        const done = (result: boolean) => {
          clearTimeout(timer)
          availabilityWaiters.delete(wake)
          resolve(result)
        }
        const wake = () => done(true)
        const timer = setTimeout(() => done(isAvailable()), timeoutMs)
        availabilityWaiters.add(wake)
      })
    },
    onChange: changes.add,
    async close () {
      if (closed) return
      closed = true
      clearInterval(resyncTimer)
      subscriber.off('message', onMessage)
      subscriber.off('ready', subscribe)
      subscriber.off('close', onClose)
      await subscriber.unsubscribe(channel).catch(() => {})
    }
  }
}
