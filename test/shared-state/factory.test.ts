/**
 * createSharedState: without REDIS_URL everything is in memory (and the log says so); with it,
 * everything goes through Redis, a revocation makes older shared decisions unusable, and close()
 * leaves no connection behind. Also: the test infrastructure names the package when redis-server is missing.
 */
import t from 'tap'
import { createSharedState } from '../../src/shared-state/index.js'
import { startRedis } from '../storage/redis.js'
import { inspector, privateRedis, testKeyPrefix } from '../helpers/redis.js'
import { captureLog } from '../helpers/shared-state.js'

const LIMITS = { rateLimits: { urlsPerMinute: 2, unauthenticatedPerMinute: 1 }, revocations: { failOpen: false } }

t.test('without Redis: in memory, said in the log', async (t) => {
  const log = captureLog()
  const state = createSharedState({ ...LIMITS, redis: undefined }, log)
  t.teardown(() => state.close())
  t.equal(state.kind, 'memory')
  t.equal(state.redis, undefined)
  t.equal(state.decisions, undefined)
  t.match(log.text(), /kept in memory/)
  t.match(await state.urlLimiter.consume('alice', 2), { allowed: true, remaining: 0 })
  t.match(await state.urlLimiter.consume('alice'), { allowed: false })
  t.match(await state.unauthenticatedLimiter.consume('10.0.0.1'), { allowed: true })
  t.match(await state.unauthenticatedLimiter.consume('10.0.0.1'), { allowed: false }, 'its own limit')
  await state.revocations.create({ subject: 'mallory' })
  t.match(state.revocations.check('mallory', 'media', 'k'), { status: 'revoked' })
})

t.test('with Redis: everything shared; a revocation drops older shared decisions', async (t) => {
  // Its own server: the connection count below must not see other test files' clients.
  const server = await privateRedis(t)
  const keyPrefix = testKeyPrefix('factory')
  const log = captureLog()
  const state = createSharedState({ ...LIMITS, redis: { url: server.url, keyPrefix } }, log)
  t.teardown(() => state.close())
  t.equal(state.kind, 'redis')
  t.equal(await state.revocations.whenAvailable(5000), true)
  t.equal(state.urlLimiter.kind, 'redis')
  t.match(await state.urlLimiter.consume('alice', 2), { allowed: true })
  const key = 'A'.repeat(43) + '='
  await state.decisions?.set(key, 'allowed', Date.now() + 60_000)
  t.match(await state.decisions?.get(key), { outcome: 'allowed' })
  await new Promise((resolve) => setTimeout(resolve, 5))
  await state.revocations.create({ subject: 'mallory' })
  t.equal(await state.decisions?.get(key), undefined, 'stored before the revocation: not reused')
  const inspect = inspector(t, server.url)
  const clients = await inspect.client('LIST')
  t.ok((clients as string).includes('name=r2-signer-subscriber'), 'subscriber connected')
  await state.close()
  const after = await inspect.client('LIST') as string
  t.notOk(after.includes('name=r2-signer '), 'command connection closed')
  t.notOk(after.includes('name=r2-signer-subscriber'), 'subscriber closed')
})

t.test('no redis-server on PATH: an error naming the package to install', async (t) => {
  const path = process.env.PATH
  process.env.PATH = '/nonexistent'
  t.teardown(() => { process.env.PATH = path })
  await t.rejects(startRedis(), /redis-server is not on PATH.*apt-get install -y --no-install-recommends redis-server/)
})
