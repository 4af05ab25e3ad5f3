/**
 * Shared permission decisions on a real redis-server: a decision stored by one instance is read by
 * another until it expires; only SHA-256 keys; nothing secret in Redis (every key and value is
 * scanned for the token, its parts, the subject and the object key); dropBefore; and with Redis
 * down, misses and no-ops (logged once, counted), shared again when it returns.
 */
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { createSharedDecisionStore } from '../../src/shared-state/decisions.js'
import { decisionKey } from '../../src/permissions/decision-cache.js'
import { dumpKeys, inspector, privateRedis, redisUrl, testKeyPrefix } from '../helpers/redis.js'
import { connect, eventually } from '../helpers/shared-state.js'
import { tokenFor } from '../helpers/tokens.js'

function instance (t: Test, url: string, prefix: string) {
  const redis = connect(t, url, prefix)
  const failures = { count: 0 }
  const store = createSharedDecisionStore({ redis, log: redis.log, onFailure: () => { failures.count++ } })
  return { redis, store, failures, log: redis.log }
}

t.test('a decision stored on A is reused on B until it expires; nothing secret in Redis', async (t) => {
  const prefix = testKeyPrefix('decisions')
  const a = instance(t, redisUrl(), prefix)
  const b = instance(t, redisUrl(), prefix)
  await eventually(() => a.redis.isReady() && b.redis.isReady())

  const token = await tokenFor('alice')
  const authorization = `Bearer ${token}`
  const query = { subject: 'alice', action: 'read' as const, bucket: 'media', key: 'users/alice/secret-plans.pdf' }
  const key = decisionKey(authorization, query)
  t.equal(await b.store.get(key), undefined, 'nothing yet')
  const expiresAtMs = Date.now() + 800
  await a.store.set(key, 'allowed', expiresAtMs)
  t.same(await b.store.get(key), { outcome: 'allowed', expiresAtMs }, 'B reuses A\'s decision, with its expiry')
  const denied = decisionKey(authorization, { ...query, action: 'write' })
  await b.store.set(denied, 'denied', Date.now() + 60_000)
  t.match(await a.store.get(denied), { outcome: 'denied' })

  const inspect = inspector(t)
  const ttl = await inspect.pttl(`${prefix}decision:${key}`)
  t.ok(ttl > 0 && ttl <= 800, `expires with the decision (${ttl} ms left)`)
  const everything = JSON.stringify(await dumpKeys(inspect, prefix))
  for (const secret of [token, ...token.split('.'), 'Bearer', 'alice', 'secret-plans', 'users/']) {
    t.notOk(everything.includes(secret), `no ${secret.length > 20 ? 'token part' : secret} in any key or value`)
  }

  await sleep(900)
  t.equal(await b.store.get(key), undefined, 'expired')
  await a.store.set(key, 'allowed', Date.now() - 1)
  t.equal(await inspect.exists(`${prefix}decision:${key}`), 0, 'an expiry in the past stores nothing')

  await t.rejects(a.store.set(authorization, 'allowed', Date.now() + 1000), RangeError, 'a raw header is never a key')
  await t.rejects(a.store.get('users/alice/secret-plans.pdf'), RangeError)
})

t.test('an allowed decision\'s upload limits travel with it; a value that does not parse is a miss', async (t) => {
  const prefix = testKeyPrefix('decisions')
  const a = instance(t, redisUrl(), prefix)
  const b = instance(t, redisUrl(), prefix)
  await eventually(() => a.redis.isReady() && b.redis.isReady())
  const token = await tokenFor('alice')
  const key = decisionKey(`Bearer ${token}`, { subject: 'alice', action: 'write', bucket: 'media', key: 'users/alice/avatar/me.png' })
  const limits = { maxBytes: 2097152, contentTypes: ['image/*'], writeOnce: true }
  const expiresAtMs = Date.now() + 60_000
  await a.store.set(key, 'allowed', expiresAtMs, limits)
  t.same(await b.store.get(key), { outcome: 'allowed', expiresAtMs, limits }, 'B gets the limits A stored')

  const inspect = inspector(t)
  const stored = JSON.stringify(await dumpKeys(inspect, prefix))
  for (const secret of [token, ...token.split('.'), 'alice', 'avatar', 'X-Amz', 'http']) t.notOk(stored.includes(secret), `no ${secret.length > 20 ? 'token part' : secret} stored`)

  const redisKey = `${prefix}decision:${key}`
  for (const [name, value] of [['bad JSON', `allowed:${Date.now()}:${expiresAtMs}:{`], ['malformed limits', `allowed:${Date.now()}:${expiresAtMs}:{"maxBytes":-1}`], ['limits on a denial', `denied:${Date.now()}:${expiresAtMs}:{}`]]) {
    await inspect.set(redisKey, value as string, 'PX', 60_000)
    t.equal(await b.store.get(key), undefined, `${name as string}: a miss, never a decision without its limits`)
  }
})

t.test('dropBefore: older decisions are ignored by that instance', async (t) => {
  const prefix = testKeyPrefix('decisions')
  const a = instance(t, redisUrl(), prefix)
  const b = instance(t, redisUrl(), prefix)
  await eventually(() => a.redis.isReady() && b.redis.isReady())
  const key = decisionKey('Bearer x', { subject: 'bob', action: 'read', bucket: 'media', key: 'k' })
  await a.store.set(key, 'allowed', Date.now() + 60_000)
  b.store.dropBefore(Date.now() + 1)
  t.equal(await b.store.get(key), undefined, 'dropped on B')
  t.match(await a.store.get(key), { outcome: 'allowed' }, 'A is unaffected until told')
  await sleep(5)
  await a.store.set(key, 'denied', Date.now() + 60_000)
  t.match(await b.store.get(key), { outcome: 'denied' }, 'a decision stored after it counts')
})

t.test('Redis down: misses and no-ops, logged once and counted; shared again when it returns', async (t) => {
  const server = await privateRedis(t)
  const prefix = testKeyPrefix('decisions')
  const a = instance(t, server.url, prefix)
  await eventually(() => a.redis.isReady())
  const key = decisionKey('Bearer y', { subject: 'carol', action: 'read', bucket: 'media', key: 'k' })
  await a.store.set(key, 'allowed', Date.now() + 60_000)

  await server.stop()
  await eventually(() => !a.redis.isReady())
  const started = performance.now()
  t.equal(await a.store.get(key), undefined, 'a miss')
  await a.store.set(key, 'denied', Date.now() + 60_000)
  t.ok(performance.now() - started < 100, 'at once')
  t.equal(a.failures.count, 2, 'each failure counted')
  t.equal(a.log.entries.filter((e) => /not shared/.test(e.message ?? '')).length, 1, 'logged once')

  await server.restart()
  await eventually(() => a.redis.isReady(), 10_000)
  await a.store.set(key, 'allowed', Date.now() + 60_000)
  t.match(await a.store.get(key), { outcome: 'allowed' }, 'shared again')
  t.match(a.log.text(), /decisions shared/)
})
