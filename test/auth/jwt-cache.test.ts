/**
 * fast-jwt's verified-token cache (JWT_CACHE_MAX_ENTRIES): on by default, bounded, off with 0;
 * a cached token is still refused once it expires, a refusal is never cached (a token that is
 * not valid yet is accepted once its nbf passes), and the shared cached payload is read-only.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import type { RawEnv } from '../../src/config/config.js'
import { build } from '../helpers/app.js'
import { bearer, keyPair, tokenFor } from '../helpers/tokens.js'

const DOWNLOAD = { key: 'users/alice/photo.jpg' }
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits until the wall clock is `ms` past the start of the current second: exp/nbf have one-second resolution. */
async function atSecondBoundary (ms = 50): Promise<void> {
  await sleep(1000 - (Date.now() % 1000) + ms)
}

t.test('on by default, bounded; 0 turns it off', async (t) => {
  const on = await build(t)
  t.match(on.app.jwt.options.verify, { cache: 10_000, cacheTTL: 300_000 }, 'default: 10,000 entries')
  const token = tokenFor('alice')
  const first = on.app.jwt.verify(token)
  t.equal(on.app.jwt.verify(token), first, 'a repeat is served from the cache (the same payload)')

  const sized = await build(t, { env: { JWT_CACHE_MAX_ENTRIES: '5' } })
  t.match(sized.app.jwt.options.verify, { cache: 5 })

  const off = await build(t, { env: { JWT_CACHE_MAX_ENTRIES: '0' } })
  t.notOk('cache' in (off.app.jwt.options.verify as object), 'no cache option')
  t.not(off.app.jwt.verify(token), off.app.jwt.verify(token), 'every verification is done again')
})

/** A JWKS endpoint serving `keys`. */
async function jwksServer (t: Test, keys: object[]): Promise<string> {
  const server = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys })) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`
}

type Sign = { key?: string, algorithm?: 'ES256', kid?: string }
const variants: Array<[string, (t: Test) => Promise<{ env: RawEnv, sign: Sign }>]> = [
  ['HS256', async () => ({ env: {}, sign: {} })],
  ['ES256 public key', async () => {
    const ec = keyPair('ec')
    return { env: { JWT_SECRET: undefined, JWT_PUBLIC_KEY: ec.publicPem }, sign: { key: ec.privatePem, algorithm: 'ES256' } }
  }],
  ['ES256 from a JWKS', async (t) => {
    const ec = keyPair('ec')
    const url = await jwksServer(t, [{ ...ec.publicJwk, kid: 'k1', alg: 'ES256', use: 'sig' }])
    return { env: { JWT_SECRET: undefined, JWT_JWKS_URL: url }, sign: { key: ec.privatePem, algorithm: 'ES256', kid: 'k1' } }
  }]
]

for (const [name, setup] of variants) {
  t.test(`${name}: a cached token is refused once it expires`, async (t) => {
    const { env, sign } = await setup(t)
    const app = await build(t, { env })
    await atSecondBoundary()
    const token = tokenFor('alice', { ttlSeconds: 1, ...sign })
    for (let i = 0; i < 3; i++) {
      const res = await app.post('/v1/download-urls', DOWNLOAD, bearer(token))
      t.equal(res.status, 200, `accepted before exp (${i + 1})`)
    }
    await atSecondBoundary()
    const res = await app.post('/v1/download-urls', DOWNLOAD, bearer(token))
    t.equal(res.status, 401, 'refused after exp')
    t.match(await res.json(), { code: 'UNAUTHORIZED', detail: 'The token has expired.' })
  })
}

t.test('a refusal is not cached: a token becomes usable at its nbf', async (t) => {
  const app = await build(t)
  await atSecondBoundary()
  const nbf = Math.floor(Date.now() / 1000) + 1
  const token = tokenFor('alice', { claims: { nbf } })
  const early = await app.post('/v1/download-urls', DOWNLOAD, bearer(token))
  t.equal(early.status, 401, 'not valid yet')
  t.match(await early.json(), { detail: 'The token is not valid yet.' })
  await atSecondBoundary()
  const later = await app.post('/v1/download-urls', DOWNLOAD, bearer(token))
  t.equal(later.status, 200, 'accepted once nbf has passed')
})

t.test('the cached payload is shared by requests with that token, so it is read-only', async (t) => {
  const app = await build(t)
  const token = tokenFor('alice')
  // The user object of a request is what app.jwt.verify cached for that token.
  const res = await app.post('/v1/download-urls', DOWNLOAD, bearer(token))
  t.equal(res.status, 200)
  const cached = app.app.jwt.verify<Record<string, unknown>>(token)
  t.ok(Object.isFrozen(cached), 'the cached payload is frozen')
  t.throws(() => { cached.sub = 'mallory' }, TypeError)
  t.equal(cached.sub, 'alice')
})
