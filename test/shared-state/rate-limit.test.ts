/**
 * Rate limits: in memory, and shared through a real Redis by several "instances" (each its own
 * connection and limiter). The limit holds across instances (the request after the limit is
 * refused on every one), batches take N units, windows reset, bursts are served from leases
 * without a round trip each, unused leases go back, and with Redis down the limiter fails open
 * (one log line, a count per decision) and enforces again when Redis returns.
 */
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { createMemoryRateLimiter, createRedisRateLimiter, EXHAUSTED_RECHECK_MS, LEASE_IDLE_MS } from '../../src/shared-state/rate-limit.js'
import type { SharedRedis } from '../../src/shared-state/redis.js'
import { dumpKeys, inspector, privateRedis, redisUrl, testKeyPrefix } from '../helpers/redis.js'
import { captureLog, connect, eventually } from '../helpers/shared-state.js'

const MINUTE = 60_000
/** A clock 1 s into a minute, which tests move by hand. */
function clock () {
  const c = { at: Math.floor(Date.now() / MINUTE) * MINUTE + 1000, now: () => c.at }
  return c
}

function instances (t: Test, count: number, limit: number, options: { url?: string, prefix?: string, now?: () => number, name?: string } = {}) {
  const prefix = options.prefix ?? testKeyPrefix('rate')
  return Array.from({ length: count }, () => {
    const redis = connect(t, options.url ?? redisUrl(), prefix)
    const failOpen = { count: 0 }
    const limiter = createRedisRateLimiter({ name: options.name ?? 'urls', limit, redis, log: redis.log, now: options.now, onFailOpen: () => { failOpen.count++ } })
    t.teardown(() => limiter.close())
    return { redis, limiter, failOpen, log: redis.log }
  })
}

async function ready (...connections: SharedRedis[]) {
  await eventually(() => connections.every((c) => c.isReady()))
}

t.test('in memory: units, remaining, reset, windows', async (t) => {
  const c = clock()
  const limiter = createMemoryRateLimiter({ name: 'urls', limit: 5, now: c.now })
  t.equal(limiter.kind, 'memory')
  t.same(await limiter.consume('alice', 3), { allowed: true, limit: 5, remaining: 2, resetSeconds: 59 })
  t.same(await limiter.consume('alice', 3), { allowed: false, limit: 5, remaining: 2, resetSeconds: 59 }, 'a batch that does not fit is refused whole')
  t.same(await limiter.consume('bob'), { allowed: true, limit: 5, remaining: 4, resetSeconds: 59 }, 'keys are separate')
  c.at += 30_500
  t.same(await limiter.consume('alice', 2), { allowed: true, limit: 5, remaining: 0, resetSeconds: 29 })
  t.match(await limiter.consume('alice'), { allowed: false, remaining: 0 }, 'the request after the limit')
  t.match(await limiter.consume('alice', 6), { allowed: false }, 'more than the limit at once: never')
  c.at += 29_000
  t.same(await limiter.consume('alice'), { allowed: true, limit: 5, remaining: 4, resetSeconds: 60 }, 'a new window')
  await t.rejects(limiter.consume('alice', 0), RangeError)
  await t.rejects(limiter.consume('alice', 1.5), RangeError)
})

t.test('Redis: one limit across three instances; the request after the limit is refused on each', async (t) => {
  const c = clock()
  const [a, b, cc] = instances(t, 3, 10, { now: c.now })
  await ready(a!.redis, b!.redis, cc!.redis)
  const all = [a!, b!, cc!]
  for (let i = 0; i < 10; i++) {
    const decision = await all[i % 3]!.limiter.consume('alice')
    t.equal(decision.allowed, true, `request ${i + 1} allowed`)
  }
  for (const [i, instance] of all.entries()) {
    const decision = await instance.limiter.consume('alice')
    t.match(decision, { allowed: false, limit: 10, remaining: 0, resetSeconds: 59 }, `request 11 refused on instance ${i}`)
  }
  t.equal((await b!.limiter.consume('bob')).allowed, true, 'another subject has its own budget')

  c.at += MINUTE
  t.match(await cc!.limiter.consume('alice'), { allowed: true, remaining: 9, resetSeconds: 59 }, 'the next window starts afresh')
})

t.test('Redis: batches take their units from the shared budget', async (t) => {
  const c = clock()
  const [a, b] = instances(t, 2, 10, { now: c.now })
  await ready(a!.redis, b!.redis)
  t.match(await a!.limiter.consume('alice', 4), { allowed: true, remaining: 6 })
  t.match(await b!.limiter.consume('alice', 4), { allowed: true, remaining: 2 })
  t.match(await a!.limiter.consume('alice', 3), { allowed: false, remaining: 2 }, 'three do not fit in two')
  t.match(await b!.limiter.consume('alice', 2), { allowed: true, remaining: 0 }, 'two do')
  t.match(await a!.limiter.consume('alice', 1), { allowed: false, remaining: 0 })
})

t.test('Redis: a key found without units is refused locally for a while, then asked again', async (t) => {
  const c = clock()
  const prefix = testKeyPrefix('rate')
  const [a, b] = instances(t, 2, 4, { now: c.now, prefix })
  await ready(a!.redis, b!.redis)
  t.match(await a!.limiter.consume('alice', 4), { allowed: true, remaining: 0 })
  t.match(await b!.limiter.consume('alice'), { allowed: false, remaining: 0 })
  // As if another instance gave a leased unit back.
  const inspect = inspector(t)
  const [counter] = await dumpKeys(inspect, prefix)
  await inspect.decrby(counter!.key, 1)
  const evaluate = b!.redis.client.eval.bind(b!.redis.client)
  let calls = 0
  b!.redis.client.eval = ((...args: Parameters<typeof evaluate>) => { calls++; return evaluate(...args) }) as typeof evaluate
  for (let i = 0; i < 100; i++) t.equal((await b!.limiter.consume('alice')).allowed, false)
  t.equal(calls, 0, 'refusals past the limit cost no round trip')
  c.at += EXHAUSTED_RECHECK_MS
  t.match(await b!.limiter.consume('alice'), { allowed: true, remaining: 0 }, 'the unit given back is found')
  t.equal(calls, 1)
})

t.test('Redis: bursts are served from leases, never past the limit, and unused leases go back', async (t) => {
  const c = clock()
  const limit = 3000
  const [a, b] = instances(t, 2, limit, { now: c.now })
  await ready(a!.redis, b!.redis)
  const calls = { count: 0 }
  for (const instance of [a!, b!]) {
    const evaluate = instance.redis.client.eval.bind(instance.redis.client)
    instance.redis.client.eval = ((...args: Parameters<typeof evaluate>) => { calls.count++; return evaluate(...args) }) as typeof evaluate
  }
  // Both instances serve the same subject in a burst, concurrently.
  let allowed = 0
  await Promise.all([a!, b!].map(async ({ limiter }) => {
    for (let i = 0; i < 2000; i++) if ((await limiter.consume('alice')).allowed) allowed++
  }))
  t.ok(allowed <= limit, `never more than the limit (${allowed} allowed)`)
  t.ok(allowed >= limit - 2 * (limit / 50), `refusals before the limit stay within the leases (${allowed} allowed)`)
  t.ok(calls.count < 4000 / 4, `far fewer Redis calls than requests (${calls.count} for 4000)`)

  // Leased units nobody spends go back to the shared counter: the budget can be used up exactly.
  await sleep(LEASE_IDLE_MS * 2)
  for (;;) {
    const decision = await (allowed % 2 === 0 ? a! : b!).limiter.consume('alice')
    if (!decision.allowed) break
    allowed++
    await sleep(LEASE_IDLE_MS / 20)
  }
  t.equal(allowed, limit, 'exactly the limit in the end')
  const inspect = inspector(t)
  const keys = await dumpKeys(inspect, a!.redis.key(''))
  t.equal(keys.length, 1, 'one counter')
  t.equal(keys[0]?.value, String(limit), 'at the limit')
  t.notMatch(keys[0]?.key, /alice/, 'the subject is hashed in the key')
  const ttl = await inspect.pttl(keys[0]!.key)
  t.ok(ttl > 0 && ttl <= 65_000, `the counter expires with its window (${ttl} ms)`)
})

t.test('Redis: concurrent requests for one key share a reservation in flight', async (t) => {
  const c = clock()
  const [a, b] = instances(t, 2, 100_000, { now: c.now })
  await ready(a!.redis, b!.redis)
  const calls = { count: 0 }
  const evaluate = a!.redis.client.eval.bind(a!.redis.client)
  a!.redis.client.eval = ((...args: Parameters<typeof evaluate>) => { calls.count++; return evaluate(...args) }) as typeof evaluate
  const decisions = await Promise.all(Array.from({ length: 1000 }, () => a!.limiter.consume('alice')))
  t.equal(decisions.filter((d) => d.allowed).length, 1000, 'all allowed')
  t.ok(calls.count <= 20, `a handful of Redis calls for 1000 concurrent requests (${calls.count})`)

  // At a small limit, concurrency on two instances still never passes it, and gets exactly to it.
  const [x, y] = instances(t, 2, 100, { now: c.now })
  await ready(x!.redis, y!.redis)
  const burst = await Promise.all([x!, y!].flatMap(({ limiter }) => Array.from({ length: 300 }, () => limiter.consume('bob'))))
  t.equal(burst.filter((d) => d.allowed).length, 100, 'exactly the limit')
})

t.test('Redis down: fails open (logged once, counted), enforces again when it returns', async (t) => {
  const server = await privateRedis(t)
  const c = clock()
  const [a, b] = instances(t, 2, 3, { url: server.url, now: c.now })
  await ready(a!.redis, b!.redis)
  for (let i = 0; i < 3; i++) t.equal((await a!.limiter.consume('alice')).allowed, true)
  t.equal((await b!.limiter.consume('alice')).allowed, false, 'limited while Redis is up')

  await server.stop()
  await eventually(() => !a!.redis.isReady() && !b!.redis.isReady())
  for (let i = 0; i < 10; i++) {
    t.equal((await b!.limiter.consume('carol')).allowed, true, `open while Redis is down (${i + 1})`)
  }
  t.equal(b!.failOpen.count, 10, 'each open decision counted')
  const warnings = (log: ReturnType<typeof captureLog>) => log.entries.filter((e) => e.level === 'warn' && /rate limit not enforced/.test(e.message ?? ''))
  t.equal(warnings(b!.log).length, 1, 'logged once for the outage')

  await server.restart()
  await ready(a!.redis, b!.redis)
  const decisions = []
  for (let i = 0; i < 4; i++) decisions.push((await [a!, b!][i % 2]!.limiter.consume('carol')).allowed)
  t.same(decisions, [true, true, true, false], 'enforced again (the restarted Redis starts empty)')
  t.match(b!.log.text(), /rate limit enforced/)
  t.equal(warnings(b!.log).length, 1, 'still one warning')
})
