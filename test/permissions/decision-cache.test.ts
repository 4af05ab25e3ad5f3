/**
 * Permission-decision cache: the permission service decides reuse with Cache-Control max-age
 * (capped by PERMISSIONS_CACHE_MAX_TTL_SECONDS, never past the token's exp), a bounded LRU,
 * single flight for concurrent identical checks, separate entries per token/subject/action/
 * bucket/key, and never a 401 or a failure. First the unit (with a clock we control), then
 * the whole app over real HTTP with a real permission stub.
 */
import t from 'tap'
import { createCachingPermissionClient, decisionKey, decisionKeys, ExpiringLru, type AskingClient } from '../../src/permissions/decision-cache.js'
import { maxAge, type PermissionAnswer, type PermissionDecision, type PermissionQuery } from '../../src/permissions/permission-client.js'
import { buildApp } from '../../src/app.js'
import type { UploadLimits } from '../../src/uploads/policy.js'
import { ConfigError } from '../../src/config/config.js'
import { build, OFFLINE_STORAGE_ENV, type TestApp } from '../helpers/app.js'
import { json, type StubHandler } from '../helpers/permission-stub.js'
import { bearer, TEST_JWT_SECRET, tokenFor } from '../helpers/tokens.js'

const GOOD_ENV = { ...OFFLINE_STORAGE_ENV, LOG_LEVEL: 'silent', JWT_SECRET: TEST_JWT_SECRET, PERMISSIONS_URL: 'http://127.0.0.1:9/check' }

const ALLOWED: PermissionDecision = { outcome: 'allowed' }
const DENIED: PermissionDecision = { outcome: 'denied' }
const QUERY: PermissionQuery = { subject: 'alice', action: 'read', bucket: 'media', key: 'users/alice/a.jpg' }
const AUTH = 'Bearer token-a'
const T0 = 1_800_000_000_000
/** A token that expires long after every test's clock. */
const FAR = T0 + 86_400_000

/** A fake permission client: answers with `answer` (settable), counts the asks, optionally holds them. */
function fakeClient (answer: PermissionAnswer = { decision: ALLOWED, maxAgeSeconds: 60 }) {
  const state = { answer, asks: [] as Array<{ authorization: string, query: PermissionQuery }>, hold: undefined as Promise<void> | undefined }
  const client: AskingClient = {
    async ask (authorization, query) {
      state.asks.push({ authorization, query })
      if (state.hold !== undefined) await state.hold
      return state.answer
    },
    async close () {}
  }
  return { client, state }
}

function cachedClient (options: { maxEntries?: number, maxTtlSeconds?: number, answer?: PermissionAnswer } = {}) {
  const clock = { now: T0 }
  const { client, state } = fakeClient(options.answer)
  const cached = createCachingPermissionClient(client, {
    maxEntries: options.maxEntries ?? 100,
    maxTtlSeconds: options.maxTtlSeconds ?? 300,
    now: () => clock.now
  })
  return { cached, state, clock }
}

t.test('Cache-Control → reusable seconds', async (t) => {
  const cases: Array<[Record<string, string | string[] | undefined>, number]> = [
    [{}, 0],
    [{ 'cache-control': 'max-age=60' }, 60],
    [{ 'cache-control': 'private, max-age=30' }, 30],
    [{ 'cache-control': 'Private, MAX-AGE=30' }, 30],
    [{ 'cache-control': 'public,max-age=5,must-revalidate' }, 5],
    [{ 'cache-control': 'max-age="45"' }, 45],
    [{ 'cache-control': ['private', 'max-age=20'] }, 20],
    [{ 'cache-control': 'max-age=0' }, 0],
    [{ 'cache-control': 'no-store' }, 0],
    [{ 'cache-control': 'no-store, max-age=60' }, 0],
    [{ 'cache-control': 'max-age=60, no-cache' }, 0],
    [{ 'cache-control': 'no-cache="set-cookie", max-age=60' }, 0],
    [{ 'cache-control': 'private' }, 0],
    [{ 'cache-control': 's-maxage=60' }, 0],
    [{ 'cache-control': 'max-age=-1' }, 0],
    [{ 'cache-control': 'max-age=1.5' }, 0],
    [{ 'cache-control': 'max-age=abc' }, 0],
    [{ 'cache-control': 'max-age=' }, 0],
    [{ 'cache-control': 'max-age=60, max-age=120' }, 0],
    [{ 'cache-control': 'max-age=60, max-age=60' }, 60],
    [{ 'cache-control': 'max-age=99999999999' }, 0],
    [{ 'cache-control': 'max-age=60', age: '15' }, 45],
    [{ 'cache-control': 'max-age=60', age: '90' }, 0],
    [{ 'cache-control': 'max-age=60', age: 'soon' }, 60]
  ]
  for (const [headers, seconds] of cases) t.equal(maxAge(headers), seconds, JSON.stringify(headers))
})

t.test('a decision is reused for max-age, then asked again', async (t) => {
  const { cached, state, clock } = cachedClient({ answer: { decision: ALLOWED, maxAgeSeconds: 60 } })
  t.same(await cached.check(AUTH, QUERY, FAR), { decision: ALLOWED, source: 'service' })
  clock.now = T0 + 59_999
  t.same(await cached.check(AUTH, QUERY, FAR), { decision: ALLOWED, source: 'cache' })
  t.equal(state.asks.length, 1, 'asked once within max-age')
  clock.now = T0 + 60_000
  t.same(await cached.check(AUTH, QUERY, FAR), { decision: ALLOWED, source: 'service' }, 'asked again at max-age')
  t.equal(state.asks.length, 2)
})

t.test('answers that may not be reused are asked every time', async (t) => {
  const answers: Array<[string, PermissionAnswer]> = [
    ['allowed without max-age (no-store, no header)', { decision: ALLOWED, maxAgeSeconds: 0 }],
    ['denied without max-age', { decision: DENIED, maxAgeSeconds: 0 }],
    ['401 even with max-age', { decision: { outcome: 'unauthenticated' }, maxAgeSeconds: 60 }],
    ['unavailable even with max-age', { decision: { outcome: 'unavailable', reason: 'status 500' }, maxAgeSeconds: 60 }]
  ]
  for (const [name, answer] of answers) {
    const { cached, state } = cachedClient({ answer })
    for (let i = 0; i < 3; i++) t.same(await cached.check(AUTH, QUERY, FAR), { decision: answer.decision, source: 'service' }, name)
    t.equal(state.asks.length, 3, `${name}: asked 3 times`)
    t.equal(cached.size, 0, `${name}: nothing stored`)
  }
})

t.test('a denial with max-age is reused like an allow', async (t) => {
  const { cached, state } = cachedClient({ answer: { decision: DENIED, maxAgeSeconds: 30 } })
  await cached.check(AUTH, QUERY, FAR)
  t.same(await cached.check(AUTH, QUERY, FAR), { decision: DENIED, source: 'cache' })
  t.equal(state.asks.length, 1)
})

t.test('no entry outlives the token exp', async (t) => {
  const { cached, state, clock } = cachedClient({ answer: { decision: ALLOWED, maxAgeSeconds: 60 } })
  const exp = T0 + 5_000
  await cached.check(AUTH, QUERY, exp)
  clock.now = exp - 1
  t.equal((await cached.check(AUTH, QUERY, exp)).source, 'cache', 'reused just before exp')
  clock.now = exp
  t.equal((await cached.check(AUTH, QUERY, exp)).source, 'service', 'not reused at exp')
  t.equal(state.asks.length, 2)

  const { cached: other, state: otherState } = cachedClient()
  await other.check(AUTH, QUERY, T0)
  await other.check(AUTH, QUERY, Number.NaN)
  t.equal(other.size, 0, 'an already expired (or unknown) exp stores nothing')
  t.equal(otherState.asks.length, 2)
})

t.test('max-age is capped at PERMISSIONS_CACHE_MAX_TTL_SECONDS', async (t) => {
  const { cached, state, clock } = cachedClient({ maxTtlSeconds: 300, answer: { decision: ALLOWED, maxAgeSeconds: 86_400 } })
  await cached.check(AUTH, QUERY, FAR)
  clock.now = T0 + 299_999
  t.equal((await cached.check(AUTH, QUERY, FAR)).source, 'cache')
  clock.now = T0 + 300_000
  t.equal((await cached.check(AUTH, QUERY, FAR)).source, 'service')
  t.equal(state.asks.length, 2)
})

t.test('token, subject, action, bucket and key each make a separate entry', async (t) => {
  const { cached, state } = cachedClient()
  const variants: Array<[string, PermissionQuery]> = [
    ['Bearer token-a', QUERY],
    ['Bearer token-b', QUERY],
    ['bearer token-a', QUERY],
    ['Bearer token-a', { ...QUERY, subject: 'bob' }],
    ['Bearer token-a', { ...QUERY, action: 'write' }],
    ['Bearer token-a', { ...QUERY, bucket: 'archive' }],
    ['Bearer token-a', { ...QUERY, key: 'users/alice/b.jpg' }],
    ['Bearer token-a', { ...QUERY, key: 'users/alice/a.jpg ' }],
    // A subject (any JWT string) with newlines cannot pose as other fields.
    ['Bearer token-a', { ...QUERY, subject: 'alice\nread\nmedia', action: 'write', bucket: 'x', key: 'k' }],
    ['Bearer token-a', { ...QUERY, subject: 'alice', action: 'read', bucket: 'media', key: 'k' }]
  ]
  for (const [authorization, query] of variants) t.equal((await cached.check(authorization, query, FAR)).source, 'service', JSON.stringify([authorization, query]))
  for (const [authorization, query] of variants) t.equal((await cached.check(authorization, query, FAR)).source, 'cache', 'then each is reused')
  t.equal(state.asks.length, variants.length)
  t.equal(cached.size, variants.length)
  t.equal(new Set(variants.map(([a, q]) => decisionKey(a, q))).size, variants.length, 'distinct keys')
  t.match(decisionKey(AUTH, QUERY), /^[A-Za-z0-9+/]{43}=$/, 'a 32-byte hash: no token in the key')
})

t.test('bounded LRU', async (t) => {
  const { cached, state } = cachedClient({ maxEntries: 3 })
  const q = (key: string): PermissionQuery => ({ ...QUERY, key })
  for (const key of ['a', 'b', 'c']) await cached.check(AUTH, q(key), FAR)
  await cached.check(AUTH, q('a'), FAR) // a becomes the most recently used
  await cached.check(AUTH, q('d'), FAR) // evicts b, the least recently used
  t.equal(cached.size, 3, 'never more than maxEntries')
  const before = state.asks.length
  t.equal((await cached.check(AUTH, q('a'), FAR)).source, 'cache', 'recently used kept')
  t.equal((await cached.check(AUTH, q('c'), FAR)).source, 'cache')
  t.equal((await cached.check(AUTH, q('d'), FAR)).source, 'cache')
  t.equal(state.asks.length, before)
  t.equal((await cached.check(AUTH, q('b'), FAR)).source, 'service', 'least recently used evicted')

  const lru = new ExpiringLru<number>(1000)
  for (let i = 0; i < 5000; i++) lru.set(String(i), i, T0 + 1000)
  t.equal(lru.size, 1000)
  t.equal(lru.get('4999', T0), 4999)
  t.equal(lru.get('0', T0), undefined)
  t.equal(lru.get('4999', T0 + 1000), undefined, 'expired on its expiry time')
  t.equal(lru.size, 999, 'an expired entry is dropped when met')
})

t.test('single flight: concurrent identical checks share one request', async (t) => {
  for (const [name, answer] of [
    ['reusable', { decision: ALLOWED, maxAgeSeconds: 60 }],
    ['no-store', { decision: ALLOWED, maxAgeSeconds: 0 }],
    ['unavailable', { decision: { outcome: 'unavailable', reason: 'timeout' }, maxAgeSeconds: 0 }]
  ] as Array<[string, PermissionAnswer]>) {
    const { cached, state } = cachedClient({ answer })
    let release = () => {}
    state.hold = new Promise<void>((resolve) => { release = resolve })
    const all = Array.from({ length: 20 }, () => cached.check(AUTH, QUERY, FAR))
    const other = cached.check(AUTH, { ...QUERY, key: 'other' }, FAR)
    await new Promise((resolve) => setImmediate(resolve))
    t.equal(state.asks.length, 2, `${name}: one request for 20 identical checks, one for the other`)
    release()
    const results = await Promise.all(all)
    await other
    t.ok(results.every((r) => r.decision === answer.decision), `${name}: everyone gets the answer`)
    t.same(results.map((r) => r.source).sort(), ['service', ...Array<string>(19).fill('shared')].sort())
    state.hold = undefined
    await cached.check(AUTH, QUERY, FAR)
    t.equal(state.asks.length, answer.maxAgeSeconds > 0 ? 2 : 3, `${name}: ${answer.maxAgeSeconds > 0 ? 'then stored' : 'nothing kept after it completes'}`)
  }
})

t.test('PERMISSIONS_CACHE_MAX_ENTRIES=0: every check asks, no sharing', async (t) => {
  const { cached, state } = cachedClient({ maxEntries: 0 })
  await Promise.all(Array.from({ length: 5 }, () => cached.check(AUTH, QUERY, FAR)))
  await cached.check(AUTH, QUERY, FAR)
  t.equal(state.asks.length, 6)
  t.equal(cached.size, 0)
})

// --- through the app, over real HTTP ------------------------------------------------------

const DOWNLOAD = { key: 'users/alice/photo.jpg' }

async function download (app: TestApp, token: string, body: object = DOWNLOAD): Promise<number> {
  const res = await app.post('/v1/download-urls', body, bearer(token))
  await res.arrayBuffer()
  return res.status
}

const withCacheControl = (status: number, allowed: boolean, cacheControl: string | undefined): StubHandler =>
  (_c, res) => json(res, status, { allowed }, cacheControl === undefined ? {} : { 'cache-control': cacheControl })

t.test('app: the permission service decides reuse', async (t) => {
  const rows: Array<[string, StubHandler, number, number]> = [
    // name, stub, status r2-signer answers, checks the stub sees for 3 identical requests
    ['200 allowed, private, max-age=60', withCacheControl(200, true, 'private, max-age=60'), 200, 1],
    ['200 allowed, max-age=60', withCacheControl(200, true, 'max-age=60'), 200, 1],
    ['200 allowed, no-store', withCacheControl(200, true, 'no-store'), 200, 3],
    ['200 allowed, no Cache-Control', withCacheControl(200, true, undefined), 200, 3],
    ['200 allowed, no-cache, max-age=60', withCacheControl(200, true, 'no-cache, max-age=60'), 200, 3],
    ['200 {"allowed": false}, max-age=60', withCacheControl(200, false, 'private, max-age=60'), 403, 1],
    ['200 {"allowed": false}, no-store', withCacheControl(200, false, 'no-store'), 403, 3],
    ['403, max-age=60', withCacheControl(403, false, 'max-age=60'), 403, 1],
    ['403, no Cache-Control', withCacheControl(403, false, undefined), 403, 3],
    ['401, max-age=60', withCacheControl(401, false, 'max-age=60'), 401, 3],
    ['500, max-age=60', withCacheControl(500, true, 'max-age=60'), 503, 3],
    ['200 malformed, max-age=60', withCacheControl(200, 'yes' as unknown as boolean, 'max-age=60'), 503, 3]
  ]
  for (const [name, handler, status, checks] of rows) {
    t.test(name, async (t) => {
      const app = await build(t, { permissions: handler })
      const token = tokenFor('alice')
      for (let i = 0; i < 3; i++) t.equal(await download(app, token), status, `request ${i + 1}: ${status}`)
      t.equal(app.permissions.received.length, checks, `the service was asked ${checks} time(s)`)
    })
  }
})

t.test('app: a cached decision is logged as such, and keys are separate', async (t) => {
  const app = await build(t, { permissions: withCacheControl(200, true, 'private, max-age=60') })
  const alice = tokenFor('alice')
  t.equal(await download(app, alice), 200)
  t.equal(await download(app, alice), 200)
  const lines = app.logs.filter((l) => l.msg === 'request completed')
  t.notOk('permissionSource' in (lines[0] ?? {}), 'first: asked, no permissionSource')
  t.match(lines[1], { permission: 'allowed', permissionSource: 'cache' })

  t.equal(await download(app, alice, { key: 'users/alice/other.jpg' }), 200)
  t.equal(await download(app, tokenFor('alice', { claims: { role: 'viewer' } })), 200, 'another token for the same subject')
  t.equal(await download(app, tokenFor('bob')), 200)
  const res = await app.post('/v1/upload-urls', { ...DOWNLOAD, contentType: 'image/jpeg', contentLength: 1024 }, bearer(alice))
  t.equal(res.status, 200)
  t.equal(app.permissions.received.length, 5, 'another key, token, subject or action is asked')
  t.notOk(app.logText().includes(alice), 'the token never reaches the logs')
})

t.test('app: PERMISSIONS_CACHE_MAX_ENTRIES=0 disables the cache', async (t) => {
  const app = await build(t, { env: { PERMISSIONS_CACHE_MAX_ENTRIES: '0' }, permissions: withCacheControl(200, true, 'max-age=60') })
  const token = tokenFor('alice')
  for (let i = 0; i < 3; i++) t.equal(await download(app, token), 200)
  t.equal(app.permissions.received.length, 3)
})

t.test('app: PERMISSIONS_CACHE_MAX_TTL_SECONDS caps the max-age', async (t) => {
  const app = await build(t, { env: { PERMISSIONS_CACHE_MAX_TTL_SECONDS: '1' }, permissions: withCacheControl(200, true, 'max-age=3600') })
  const token = tokenFor('alice')
  t.equal(await download(app, token), 200)
  t.equal(await download(app, token), 200)
  t.equal(app.permissions.received.length, 1, 'reused within the cap')
  await new Promise((resolve) => setTimeout(resolve, 1100))
  t.equal(await download(app, token), 200)
  t.equal(app.permissions.received.length, 2, 'asked again after the cap')
})

t.test('app: 30 concurrent identical requests → one check', async (t) => {
  const pending: Array<() => void> = []
  const app = await build(t, {
    permissions: (_c, res) => { pending.push(() => json(res, 200, { allowed: true }, { 'cache-control': 'no-store' })) }
  })
  const token = tokenFor('alice')
  const all = Promise.all(Array.from({ length: 30 }, () => download(app, token)))
  // Hold the answer until every request has reached the permission step.
  const until = Date.now() + 2000
  while (Date.now() < until && app.logs.length === 0 && pending.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
  await new Promise((resolve) => setTimeout(resolve, 200))
  for (const answer of pending.splice(0)) answer()
  const statuses = await all
  t.ok(statuses.every((s) => s === 200), 'all 200')
  t.equal(app.permissions.received.length, 1, 'the service was asked once')
  t.equal(app.logs.filter((l) => l.permissionSource === 'shared').length, 29, '29 requests shared the answer')
})

t.test('configuration: defaults and limits', async (t) => {
  const app = await build(t)
  t.same(app.app.config.permissions.cache, { maxEntries: 10_000, maxTtlSeconds: 300 }, 'cache defaults')
  t.equal(app.app.config.permissions.maxConnections, 64, 'PERMISSIONS_MAX_CONNECTIONS default')
  t.equal(app.app.config.jwt.cacheMaxEntries, 10_000, 'JWT_CACHE_MAX_ENTRIES default')

  const bad: Array<[string, string]> = [
    ['PERMISSIONS_CACHE_MAX_ENTRIES', '-1'],
    ['PERMISSIONS_CACHE_MAX_ENTRIES', 'lots'],
    ['PERMISSIONS_CACHE_MAX_TTL_SECONDS', '0'],
    ['PERMISSIONS_CACHE_MAX_TTL_SECONDS', '1.5'],
    ['PERMISSIONS_MAX_CONNECTIONS', '0'],
    ['JWT_CACHE_MAX_ENTRIES', '-5']
  ]
  for (const [name, value] of bad) {
    const error = await buildApp({ env: { ...GOOD_ENV, [name]: value } }).then(async (app) => {
      try { await app.ready() } finally { await app.close() }
    }).then(() => undefined, (e: unknown) => e)
    t.ok(error instanceof ConfigError, `${name}=${value} rejected`)
    t.same((error as ConfigError | undefined)?.variables, [name], `names ${name}`)
  }
})

t.test('decisionKeys (a batch, the header hashed once) gives exactly the keys decisionKey gives', async (t) => {
  const authorization = `Bearer ${'x'.repeat(1500)}`
  const queries = [
    { subject: 'alice', action: 'read' as const, bucket: 'media', key: 'a' },
    { subject: 'al\nice', action: 'write' as const, bucket: 'other', key: 'users/alice/Übersicht 📄.pdf' },
    { subject: 'bob', action: 'read' as const, bucket: 'media', key: 'a' }
  ]
  t.same(decisionKeys(authorization, queries), queries.map((query) => decisionKey(authorization, query)))
  t.equal(new Set(decisionKeys(authorization, queries)).size, 3, 'distinct queries, distinct keys')
})

t.test('forgetAll (a revocation was made): stored decisions dropped, an answer already on its way not stored', async (t) => {
  const { cached, state } = cachedClient()
  await cached.check(AUTH, QUERY, FAR)
  t.equal(cached.size, 1)
  cached.forgetAll()
  t.equal(cached.size, 0, 'dropped')
  t.match(await cached.check(AUTH, QUERY, FAR), { source: 'service' }, 'asked again')
  t.equal(state.asks.length, 2)

  let release = () => {}
  state.hold = new Promise((resolve) => { release = resolve })
  const other = { ...QUERY, key: 'users/alice/b.jpg' }
  const pending = cached.check(AUTH, other, FAR)
  cached.forgetAll()
  release()
  state.hold = undefined
  t.match(await pending, { decision: ALLOWED, source: 'service' }, 'the request still gets its answer')
  t.match(await cached.check(AUTH, other, FAR), { source: 'service' }, 'but it was not stored: asked again')
  t.equal(state.asks.length, 4)
  t.match(await cached.check(AUTH, other, FAR), { source: 'cache' }, 'answers asked after it are stored as usual')
})

t.test('a decision keeps its upload limits: from the cache, and from another instance through the shared store', async (t) => {
  const limits: UploadLimits = { maxBytes: 2048, contentTypes: ['image/*'], writeOnce: true }
  const withLimits: PermissionDecision = { outcome: 'allowed', limits }
  const { cached, state } = cachedClient({ answer: { decision: withLimits, maxAgeSeconds: 60 } })
  t.same((await cached.check(AUTH, QUERY, FAR)).decision, withLimits, 'asked')
  t.same(await cached.check(AUTH, QUERY, FAR), { decision: withLimits, source: 'cache' }, 'reused with its limits')
  t.equal(state.asks.length, 1)

  const store = new Map<string, { outcome: 'allowed' | 'denied', expiresAtMs: number, limits?: UploadLimits }>()
  const shared = {
    get: async (key: string) => store.get(key),
    set: async (key: string, outcome: 'allowed' | 'denied', expiresAtMs: number, stored?: UploadLimits) => {
      store.set(key, { outcome, expiresAtMs, ...(stored !== undefined && { limits: stored }) })
    }
  }
  const clock = { now: T0 }
  const a = fakeClient({ decision: withLimits, maxAgeSeconds: 60 })
  const b = fakeClient({ decision: ALLOWED, maxAgeSeconds: 60 })
  const instanceA = createCachingPermissionClient(a.client, { maxEntries: 10, maxTtlSeconds: 300, now: () => clock.now, shared })
  const instanceB = createCachingPermissionClient(b.client, { maxEntries: 10, maxTtlSeconds: 300, now: () => clock.now, shared })
  await instanceA.check(AUTH, QUERY, FAR)
  await new Promise((resolve) => setImmediate(resolve))
  t.same(store.get(decisionKey(AUTH, QUERY))?.limits, limits, 'stored with the limits')
  t.same(await instanceB.check(AUTH, QUERY, FAR), { decision: withLimits, source: 'peer' }, 'B reuses A\'s decision, limits included')
  t.equal(b.state.asks.length, 0, 'B never asked')
  t.same(await instanceB.check(AUTH, QUERY, FAR), { decision: withLimits, source: 'cache' }, 'and keeps them in its own cache')
})
