/**
 * The permission-decision cache with the shared store behind it, on a real redis-server: three
 * "instances" (each its own cache and connection) and one permission service that counts the
 * questions. A decision asked on A is reused on B and C (one question in all) until it expires;
 * not-reusable answers are never shared; with Redis down each instance asks for itself.
 */
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { createCachingPermissionClient, type AskingClient } from '../../src/permissions/decision-cache.js'
import type { PermissionAnswer, PermissionQuery } from '../../src/permissions/permission-client.js'
import { createSharedDecisionStore } from '../../src/shared-state/decisions.js'
import { privateRedis, redisUrl, testKeyPrefix } from '../helpers/redis.js'
import { connect, eventually } from '../helpers/shared-state.js'

const QUERY: PermissionQuery = { subject: 'alice', action: 'read', bucket: 'media', key: 'users/alice/a.jpg' }
const AUTH = 'Bearer token-a'

function service (answer: PermissionAnswer) {
  const state = { answer, asks: 0 }
  const client: AskingClient = {
    async ask () {
      state.asks++
      return state.answer
    },
    async close () {}
  }
  return { client, state }
}

async function instances (t: Test, count: number, url: string, client: AskingClient) {
  const prefix = testKeyPrefix('decision-cache')
  const made = Array.from({ length: count }, () => {
    const redis = connect(t, url, prefix)
    const shared = createSharedDecisionStore({ redis, log: redis.log })
    return { redis, cache: createCachingPermissionClient(client, { maxEntries: 100, maxTtlSeconds: 300, shared }) }
  })
  await eventually(() => made.every((m) => m.redis.isReady()))
  return made
}

t.test('asked on A, reused on B and C: the service answers once; expiry holds everywhere', async (t) => {
  const { client, state } = service({ decision: { outcome: 'allowed' }, maxAgeSeconds: 1 })
  const [a, b, c] = await instances(t, 3, redisUrl(), client)
  const farExp = Date.now() + 3_600_000
  t.match(await a!.cache.check(AUTH, QUERY, farExp), { decision: { outcome: 'allowed' }, source: 'service' })
  await sleep(50) // A shares without making its request wait for Redis
  t.match(await b!.cache.check(AUTH, QUERY, farExp), { decision: { outcome: 'allowed' }, source: 'peer' })
  t.match(await c!.cache.check(AUTH, QUERY, farExp), { decision: { outcome: 'allowed' }, source: 'peer' })
  t.match(await c!.cache.check(AUTH, QUERY, farExp), { source: 'cache' }, 'then from the local LRU')
  t.equal(state.asks, 1, 'the service was asked once for three instances')

  await sleep(1100)
  t.match(await b!.cache.check(AUTH, QUERY, farExp), { source: 'service' }, 'after max-age, asked again')
  t.equal(state.asks, 2)
  t.match(await a!.cache.check(AUTH, { ...QUERY, key: 'other' }, farExp), { source: 'service' }, 'another key is another decision')
})

t.test('answers that may not be reused are never shared; the token\'s exp bounds shared ones', async (t) => {
  const { client, state } = service({ decision: { outcome: 'allowed' }, maxAgeSeconds: 0 })
  const [a, b] = await instances(t, 2, redisUrl(), client)
  const farExp = Date.now() + 3_600_000
  await a!.cache.check(AUTH, QUERY, farExp)
  await sleep(50)
  t.match(await b!.cache.check(AUTH, QUERY, farExp), { source: 'service' }, 'no-store: B asks itself')
  state.answer = { decision: { outcome: 'unauthenticated' }, maxAgeSeconds: 60 }
  await a!.cache.check('Bearer other', QUERY, farExp)
  await sleep(50)
  t.match(await b!.cache.check('Bearer other', QUERY, farExp), { source: 'service' }, 'a 401 is never shared')
  state.answer = { decision: { outcome: 'denied' }, maxAgeSeconds: 60 }
  const soonExp = Date.now() + 300
  await a!.cache.check('Bearer short', QUERY, soonExp)
  await sleep(400)
  t.match(await b!.cache.check('Bearer short', QUERY, soonExp), { source: 'service' }, 'gone when the token expires')
  t.equal(state.asks, 6)
})

t.test('Redis down: each instance asks for itself, nothing fails; shared again after', async (t) => {
  const server = await privateRedis(t)
  const { client, state } = service({ decision: { outcome: 'allowed' }, maxAgeSeconds: 60 })
  const [a, b] = await instances(t, 2, server.url, client)
  await server.stop()
  await eventually(() => !a!.redis.isReady() && !b!.redis.isReady())
  const farExp = Date.now() + 3_600_000
  t.match(await a!.cache.check(AUTH, QUERY, farExp), { decision: { outcome: 'allowed' }, source: 'service' })
  t.match(await b!.cache.check(AUTH, QUERY, farExp), { decision: { outcome: 'allowed' }, source: 'service' })
  t.equal(state.asks, 2)
  await server.restart()
  await eventually(() => a!.redis.isReady() && b!.redis.isReady(), 10_000)
  await a!.cache.check('Bearer later', QUERY, farExp)
  await sleep(50)
  t.match(await b!.cache.check('Bearer later', QUERY, farExp), { source: 'peer' })
  t.equal(state.asks, 3, 'shared again')
})
