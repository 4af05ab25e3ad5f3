/**
 * The Redis connection: keys under the prefix, PING health, commands that fail at once while Redis
 * is down (no offline queue, nothing waits), one log line per outage, and recovery by itself when
 * Redis returns (on the same port), without a new client.
 */
import t from 'tap'
import { redisErrorReason } from '../../src/shared-state/redis.js'
import { privateRedis, redisUrl, testKeyPrefix } from '../helpers/redis.js'
import { connect, eventually } from '../helpers/shared-state.js'

t.test('keys under the prefix, health ok on the shared test Redis', async (t) => {
  const prefix = testKeyPrefix('client')
  const redis = connect(t, redisUrl(), prefix)
  t.equal(redis.key('rate:x'), `${prefix}rate:x`)
  await eventually(() => redis.isReady())
  t.same(await redis.health(), { state: 'ok' })
  t.match(redis.log.text(), /Redis connected/)
})

t.test('down: commands fail fast and are not queued; health says why; back by itself', async (t) => {
  const server = await privateRedis(t)
  const redis = connect(t, server.url, testKeyPrefix('outage'))
  await eventually(() => redis.isReady())
  await redis.client.set(redis.key('k'), 'before')

  await server.stop()
  await eventually(() => !redis.isReady())
  const started = performance.now()
  const error = await redis.client.set(redis.key('k'), 'during').then(() => undefined, (e: unknown) => e)
  t.ok(error instanceof Error, 'a command while down fails')
  t.ok(performance.now() - started < 100, 'at once (no offline queue, no retry)')
  t.equal(redisErrorReason(error), 'not connected')
  const health = await redis.health()
  t.equal(health.state, 'fail')
  t.match(health.reason, /not connected/)

  await server.restart()
  await eventually(() => redis.isReady(), 10_000)
  t.same(await redis.health(), { state: 'ok' }, 'healthy again without a new client')
  t.equal(await redis.client.get(redis.key('k')), null, 'the write made while down was dropped, not replayed later')
  const warnings = redis.log.entries.filter((e) => e.level === 'warn' && (e.fields as { redis?: string })?.redis === 'commands')
  t.equal(warnings.length, 1, 'one warning for the outage, not one per reconnection attempt')
  t.match(redis.log.text(), /Redis connection restored/)
  t.notMatch(redis.log.text(), server.url, 'the URL is not logged (it may carry a password)')
})
