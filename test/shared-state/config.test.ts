/**
 * The shared-state variables: defaults (no Redis: everything in-process), each validated, and a
 * REDIS_URL (which may carry a password) never echoed in the error.
 */
import t from 'tap'
import type { RawEnv } from '../../src/config/config.js'
import { configured, OFFLINE_STORAGE_ENV, rejectsConfig } from '../helpers/app.js'
import { TEST_JWT_SECRET } from '../helpers/tokens.js'

const GOOD: RawEnv = { ...OFFLINE_STORAGE_ENV, LOG_LEVEL: 'silent', JWT_SECRET: TEST_JWT_SECRET, PERMISSIONS_URL: 'http://127.0.0.1:9/check' }

t.test('defaults: no Redis, 600 URLs and 120 failed authentications a minute, revocations fail closed, no proxy trusted', async (t) => {
  const app = await configured(t, GOOD)
  t.equal(app.config.redis, undefined)
  t.same(app.config.rateLimits, { urlsPerMinute: 600, unauthenticatedPerMinute: 120 })
  t.same(app.config.revocations, { failOpen: false })
  t.equal(app.config.trustProxy, false)
})

t.test('all set', async (t) => {
  const app = await configured(t, {
    ...GOOD,
    REDIS_URL: 'rediss://default:pw@redis.example:6380/2',
    REDIS_KEY_PREFIX: 'media-signer:',
    RATE_LIMIT_URLS_PER_MINUTE: '6000',
    RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: '30',
    REVOCATION_FAIL_OPEN: 'true',
    TRUST_PROXY: 'true'
  })
  t.same(app.config.redis, { url: 'rediss://default:pw@redis.example:6380/2', keyPrefix: 'media-signer:' })
  t.same(app.config.rateLimits, { urlsPerMinute: 6000, unauthenticatedPerMinute: 30 })
  t.same(app.config.revocations, { failOpen: true })
  t.equal(app.config.trustProxy, true)
  const plain = await configured(t, { ...GOOD, REDIS_URL: 'redis://127.0.0.1:6379' })
  t.same(plain.config.redis, { url: 'redis://127.0.0.1:6379', keyPrefix: 'r2-signer:' }, 'default prefix')
})

t.test('each variable validated, all named in one error, the Redis URL never echoed', async (t) => {
  const error = await rejectsConfig(t, {
    ...GOOD,
    REDIS_URL: 'http://user:hunter2-redis@redis.example:6379',
    REDIS_KEY_PREFIX: 'has space',
    RATE_LIMIT_URLS_PER_MINUTE: '0',
    RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: '1.5',
    REVOCATION_FAIL_OPEN: 'maybe',
    TRUST_PROXY: 'yes please'
  }, ['REDIS_URL', 'REDIS_KEY_PREFIX', 'RATE_LIMIT_URLS_PER_MINUTE', 'RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE', 'REVOCATION_FAIL_OPEN', 'TRUST_PROXY'])
  t.notOk(error?.message.includes('hunter2-redis'), 'no password in the message')
  await rejectsConfig(t, { ...GOOD, REDIS_URL: 'redis://' }, ['REDIS_URL'])
  await rejectsConfig(t, { ...GOOD, REDIS_URL: 'not a url' }, ['REDIS_URL'])
  await rejectsConfig(t, { ...GOOD, REDIS_KEY_PREFIX: 'x'.repeat(65) }, ['REDIS_KEY_PREFIX'])
})
