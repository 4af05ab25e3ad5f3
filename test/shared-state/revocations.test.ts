/**
 * Revocations: the in-memory store, then the Redis one with several "instances" (stores on their
 * own connections) on a real redis-server: a change on one is seen by the others within 1 s (and
 * announced to listeners), revocations survive a new instance, expire, are lifted, a change that
 * bypassed pub/sub is found by the periodic resync, and with Redis gone the store fails closed
 * (or answers from its last copy with failOpen) and recovers by itself.
 */
import t, { type Test } from 'tap'
import { createMemoryRevocationStore, createRedisRevocationStore, type RevocationChange, type RevocationStore, type RedisRevocationStoreOptions } from '../../src/shared-state/revocations.js'
import { SharedStateUnavailableError } from '../../src/shared-state/redis.js'
import { dumpKeys, inspector, privateRedis, redisUrl, testKeyPrefix } from '../helpers/redis.js'
import { connect, eventually } from '../helpers/shared-state.js'

function instance (t: Test, prefix: string, options: Partial<RedisRevocationStoreOptions> & { url?: string } = {}) {
  const redis = connect(t, options.url ?? redisUrl(), prefix)
  const store = createRedisRevocationStore({ redis, log: redis.log, ...options })
  const changes: RevocationChange[] = []
  store.onChange((change) => changes.push(change))
  t.teardown(() => store.close())
  return { redis, store, changes, log: redis.log }
}

async function available (t: Test, ...stores: RevocationStore[]) {
  for (const store of stores) t.equal(await store.whenAvailable(5000), true, 'synchronised with Redis')
}

t.test('in memory: subjects, prefixes (one bucket or all), expiry, lifting, events', async (t) => {
  const clock = { at: Date.parse('2026-11-30T10:00:00Z') }
  const store = createMemoryRevocationStore({ now: () => clock.at })
  const changes: RevocationChange[] = []
  const stop = store.onChange((change) => changes.push(change))
  t.equal(store.kind, 'memory')
  t.equal(store.isAvailable(), true)

  const alice = await store.create({ subject: 'alice' })
  t.match(alice, { id: /^[0-9a-f-]{36}$/, subject: 'alice', createdAt: '2026-11-30T10:00:00.000Z' })
  t.notOk('expiresAt' in alice, 'until lifted')
  const prefix = await store.create({ keyPrefix: 'users/bob/', bucket: 'media', expiresInSeconds: 60 })
  t.equal(prefix.expiresAt, '2026-11-30T10:01:00.000Z')
  const everywhere = await store.create({ keyPrefix: 'tmp/' })

  t.match(store.check('alice', 'media', 'anything'), { status: 'revoked', revocation: { id: alice.id } })
  t.same(store.check('bob', 'media', 'users/alice/a.jpg'), { status: 'clear' })
  t.match(store.check('bob', 'media', 'users/bob/a.jpg'), { status: 'revoked', revocation: { id: prefix.id } })
  t.same(store.check('bob', 'other', 'users/bob/a.jpg'), { status: 'clear' }, 'a bucket-scoped prefix only applies there')
  t.match(store.check('carol', 'other', 'tmp/x'), { status: 'revoked', revocation: { id: everywhere.id } }, 'a prefix without bucket applies everywhere')
  t.same((await store.list()).map((r) => r.id), [alice.id, prefix.id, everywhere.id], 'oldest first')

  clock.at += 60_000
  t.same(store.check('bob', 'media', 'users/bob/a.jpg'), { status: 'clear' }, 'expired')
  t.same((await store.list()).map((r) => r.id), [alice.id, everywhere.id])

  t.equal(await store.delete(alice.id), true)
  t.equal(await store.delete(alice.id), false, 'lifting twice: nothing to lift')
  t.same(store.check('alice', 'media', 'anything'), { status: 'clear' })
  t.same(changes.map((c) => `${c.type} ${c.revocation.id}`), [`created ${alice.id}`, `created ${prefix.id}`, `created ${everywhere.id}`, `deleted ${alice.id}`])
  stop()
  await store.create({ subject: 'dave' })
  t.equal(changes.length, 4, 'an unsubscribed listener hears nothing more')

  await t.rejects(store.create({} as never), RangeError)
  await t.rejects(store.create({ subject: 'x', keyPrefix: 'y' } as never), RangeError)
  await t.rejects(store.create({ subject: 'x', expiresInSeconds: 0 }), RangeError)
})

t.test('Redis: a revocation on A refuses on B and C within 1 s, and is lifted the same way', async (t) => {
  const prefix = testKeyPrefix('revocations')
  const [a, b, c] = [instance(t, prefix), instance(t, prefix), instance(t, prefix)]
  await available(t, a.store, b.store, c.store)
  t.same(b.store.check('alice', 'media', 'k'), { status: 'clear' })

  const revocation = await a.store.create({ subject: 'alice' })
  t.match(a.store.check('alice', 'media', 'k'), { status: 'revoked' }, 'at once on the instance that made it')
  for (const [name, other] of [['B', b], ['C', c]] as const) {
    const ms = await eventually(() => other.store.check('alice', 'media', 'k').status === 'revoked', 1000)
    t.ok(ms < 1000, `refused on ${name} after ${ms} ms`)
    t.match(other.changes, [{ type: 'created', revocation: { id: revocation.id, subject: 'alice' } }], `${name} announced it to its listeners`)
  }
  t.same((await c.store.list()).map((r) => r.id), [revocation.id], 'listed by any instance')

  t.equal(await b.store.delete(revocation.id), true, 'lifted through B')
  for (const [name, other] of [['A', a], ['C', c]] as const) {
    const ms = await eventually(() => other.store.check('alice', 'media', 'k').status === 'clear', 1000)
    t.ok(ms < 1000, `clear on ${name} after ${ms} ms`)
  }
  t.match(c.changes.at(-1), { type: 'deleted', revocation: { id: revocation.id } })
  t.same(a.changes.map((change) => change.type), ['created', 'deleted'], 'each change announced once')
})

t.test('Redis: revocations survive the instances; expiry; missed messages found by the resync', async (t) => {
  const prefix = testKeyPrefix('revocations')
  const first = instance(t, prefix)
  await available(t, first.store)
  const kept = await first.store.create({ keyPrefix: 'users/bob/', bucket: 'media' })
  await first.store.close()
  await first.redis.close()

  const offset = { ms: 0 }
  const now = () => Date.now() + offset.ms
  const second = instance(t, prefix, { now, resyncIntervalMs: 100 })
  await available(t, second.store)
  t.match(second.store.check('bob', 'media', 'users/bob/x'), { status: 'revoked', revocation: { id: kept.id } }, 'a new instance starts with it')

  const brief = await second.store.create({ subject: 'eve', expiresInSeconds: 5 })
  t.match(second.store.check('eve', 'media', 'k'), { status: 'revoked' })
  offset.ms = 5000
  t.same(second.store.check('eve', 'media', 'k'), { status: 'clear' }, 'expired: no round trip needed')
  t.same((await second.store.list()).map((r) => r.id), [kept.id])
  const inspect = inspector(t)
  await eventually(async () => (await inspect.hexists(`${prefix}revocations`, brief.id)) === 0, 2000)
  t.pass('the resync removed the expired one from Redis')

  // A change that reached Redis without its message (as if it was missed) is found by the periodic resync.
  await inspect.hdel(`${prefix}revocations`, kept.id)
  const ms = await eventually(() => second.store.check('bob', 'media', 'users/bob/x').status === 'clear', 2000)
  t.ok(ms < 2000, `found by the resync after ${ms} ms`)
  t.match(second.changes.at(-1), { type: 'deleted', revocation: { id: kept.id } }, 'and announced')
  const keys = await dumpKeys(inspect, prefix)
  t.same(keys.map((k) => k.key).sort(), [`${prefix}revocations:version`], 'nothing else kept: the hash is empty and gone')
})

t.test('Redis down: fails closed (or open from the last copy when configured); recovers by itself', async (t) => {
  const server = await privateRedis(t)
  const prefix = testKeyPrefix('revocations')
  const closed = instance(t, prefix, { url: server.url })
  const open = instance(t, prefix, { url: server.url, failOpen: true })
  await available(t, closed.store, open.store)
  await closed.store.create({ subject: 'mallory' })
  await eventually(() => open.store.check('mallory', 'media', 'k').status === 'revoked', 1000)

  await server.stop()
  await eventually(() => !closed.store.isAvailable() && !open.store.isAvailable(), 2000)
  t.same(closed.store.check('alice', 'media', 'k'), { status: 'unavailable' }, 'fail closed: not even a clear answer for others')
  t.same(closed.store.check('mallory', 'media', 'k'), { status: 'unavailable' })
  t.same(open.store.check('alice', 'media', 'k'), { status: 'clear' }, 'fail open: the last known copy decides')
  t.match(open.store.check('mallory', 'media', 'k'), { status: 'revoked' }, 'including what it knew was revoked')
  await t.rejects(closed.store.create({ subject: 'oscar' }), SharedStateUnavailableError)
  await t.rejects(closed.store.list(), SharedStateUnavailableError)
  await t.rejects(closed.store.delete('x'), SharedStateUnavailableError)
  t.match(closed.log.text(), /refusing URLs until it returns/)
  t.match(open.log.text(), /answering from the last known copy/)

  await server.restart()
  await available(t, closed.store, open.store)
  // This test Redis keeps nothing across restarts (no persistence), so the copy is now empty.
  t.same(closed.store.check('mallory', 'media', 'k'), { status: 'clear' }, 'trusted again, in step with Redis')
  const again = await closed.store.create({ subject: 'mallory' })
  await eventually(() => open.store.check('mallory', 'media', 'k').status === 'revoked', 1000)
  t.match(open.store.check('mallory', 'media', 'k'), { revocation: { id: again.id } }, 'changes flow again')
})

t.test('Redis loses its data without a disconnect (FLUSHALL): changes still arrive within 1 s', async (t) => {
  const server = await privateRedis(t)
  const prefix = testKeyPrefix('revocations')
  const a = instance(t, prefix, { url: server.url })
  const b = instance(t, prefix, { url: server.url })
  await available(t, a.store, b.store)
  await a.store.create({ subject: 'first' })
  await a.store.create({ subject: 'second' })
  await eventually(() => b.store.check('second', 'media', 'k').status === 'revoked', 1000)

  await inspector(t, server.url).flushall()
  // Versions start again from 1: the new revocation's message looks old, but contradicts B's copy.
  const after = await a.store.create({ subject: 'third' })
  const ms = await eventually(() => b.store.check('third', 'media', 'k').status === 'revoked', 1000)
  t.ok(ms < 1000, `seen on B after ${ms} ms`)
  t.same((await b.store.list()).map((r) => r.id), [after.id], 'in step with what Redis holds now')
  await eventually(() => b.store.check('first', 'media', 'k').status === 'clear', 1000)
  t.pass('the flushed ones are gone from B\'s copy too')
})
