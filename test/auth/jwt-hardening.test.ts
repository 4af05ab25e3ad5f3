/**
 * JWT hardening over real HTTP: time claims must be integers (exp 1e400 is Infinity, never
 * expiring) and exp at most JWT_MAX_LIFETIME_SECONDS ahead; one spelling per signature (flipped
 * unused base64url bits are refused) for every algorithm; and with JWT_JWKS_URL, tokens with
 * made-up algs or kids cause no JWKS fetches beyond one per JWT_JWKS_MIN_REFETCH_SECONDS and
 * cannot push the real keys out (counted by a real local JWKS server).
 */
import { createHmac, randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { build, type TestApp } from '../helpers/app.js'
import { bearer, keyPair, tokenFor, TEST_JWT_SECRET } from '../helpers/tokens.js'

const DOWNLOAD = { key: 'users/alice/photo.jpg' }
const now = () => Math.floor(Date.now() / 1000)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const b64 = (text: string) => Buffer.from(text).toString('base64url')

/** An HS256 token over a raw payload text (JSON.stringify cannot write 1e400). */
function rawHs256 (payload: string, secret = TEST_JWT_SECRET): string {
  const input = `${b64('{"alg":"HS256","typ":"JWT"}')}.${b64(payload)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

async function status (app: TestApp, token: string): Promise<{ status: number, detail?: string }> {
  const res = await app.post('/v1/download-urls', DOWNLOAD, bearer(token))
  const body = await res.json() as { detail?: string }
  return { status: res.status, detail: body.detail }
}

t.test('time claims: finite integers, exp at most JWT_MAX_LIFETIME_SECONDS ahead', async (t) => {
  const app = await build(t)
  const n = now()
  const refused: Array<[string, string, RegExp]> = [
    ['exp 1e400 (Infinity)', '{"sub":"alice","exp":1e400}', /exp claim must be a whole number/],
    ['exp with a fraction', `{"sub":"alice","exp":${n + 600}.5}`, /exp claim must be a whole number/],
    ['exp beyond 2^53', '{"sub":"alice","exp":9007199254740993}', /exp claim must be a whole number/],
    ['iat 1e400', `{"sub":"alice","exp":${n + 600},"iat":1e400}`, /iat claim must be a whole number/],
    ['iat -1e400', `{"sub":"alice","exp":${n + 600},"iat":-1e400}`, /iat claim must be a whole number/],
    ['nbf with a fraction', `{"sub":"alice","exp":${n + 600},"nbf":${n - 10}.25}`, /nbf claim must be a whole number/],
    ['exp a day and a minute ahead', `{"sub":"alice","exp":${n + 86_460}}`, /exp is more than 86400 seconds ahead/],
    ['exp ten years ahead', `{"sub":"alice","exp":${n + 315_360_000}}`, /exp is more than 86400 seconds ahead/]
  ]
  for (const [name, payload, detail] of refused) {
    const answer = await status(app, rawHs256(payload))
    t.equal(answer.status, 401, `${name} → 401`)
    t.match(answer.detail, detail, name)
  }
  t.equal(app.permissions.received.length, 0, 'the permission service was never asked')
  for (const [name, payload] of [
    ['exp in 10 minutes, iat and nbf integers', `{"sub":"alice","exp":${n + 600},"iat":${n},"nbf":${n - 5}}`],
    ['exp just under a day', `{"sub":"alice","exp":${n + 86_300}}`]
  ]) {
    t.equal((await status(app, rawHs256(payload as string))).status, 200, `${name} → 200`)
  }

  const short = await build(t, { env: { JWT_MAX_LIFETIME_SECONDS: '3600' } })
  t.equal((await status(short, tokenFor('alice', { ttlSeconds: 3500 }))).status, 200, 'JWT_MAX_LIFETIME_SECONDS=3600: 58 minutes ahead is fine')
  t.equal((await status(short, tokenFor('alice', { ttlSeconds: 4000 }))).status, 401, 'JWT_MAX_LIFETIME_SECONDS=3600: 66 minutes ahead is refused')
})

/** The other spellings of `token`'s signature: its last character with the unused bits flipped. */
function alternateSpellings (token: string): string[] {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const signature = token.slice(token.lastIndexOf('.') + 1)
  const unusedBits = (signature.length * 6) % 8
  const last = alphabet.indexOf(signature.at(-1) as string)
  const variants: string[] = []
  for (let flip = 1; flip < 2 ** unusedBits; flip++) variants.push(token.slice(0, -1) + alphabet[last ^ flip])
  return variants
}

/** A JWKS server that counts (and times) its fetches. */
async function startJwks (t: Test, keys: object[]) {
  let current = keys
  const fetches: number[] = []
  const server = createServer((_req, res) => {
    fetches.push(Date.now())
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: current }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`,
    fetches,
    serve (next: object[]) { current = next }
  }
}

t.test('one spelling per signature, for every algorithm', async (t) => {
  const rsa = keyPair('rsa')
  const ec = keyPair('ec')
  const ed = keyPair('ed25519')
  const jwks = await startJwks(t, [{ ...ec.publicJwk, kid: 'k-ec', alg: 'ES256', use: 'sig' }])
  const setups: Array<[string, Record<string, string | undefined>, Parameters<typeof tokenFor>[1], number]> = [
    ['HS256 (32 bytes, 2 unused bits)', {}, {}, 3],
    ['RS256 (256 bytes, 4 unused bits)', { JWT_SECRET: undefined, JWT_PUBLIC_KEY: rsa.publicPem }, { key: rsa.privatePem, algorithm: 'RS256' }, 15],
    ['ES256 (64 bytes, 4 unused bits)', { JWT_SECRET: undefined, JWT_PUBLIC_KEY: ec.publicPem }, { key: ec.privatePem, algorithm: 'ES256' }, 15],
    ['EdDSA (64 bytes, 4 unused bits)', { JWT_SECRET: undefined, JWT_PUBLIC_KEY: ed.publicPem }, { key: ed.privatePem, algorithm: 'EdDSA' }, 15],
    ['ES256 from a JWKS', { JWT_SECRET: undefined, JWT_JWKS_URL: jwks.url }, { key: ec.privatePem, algorithm: 'ES256', kid: 'k-ec' }, 15]
  ]
  for (const [name, env, sign, expected] of setups) {
    t.test(name, async (t) => {
      const app = await build(t, { env })
      const token = tokenFor('alice', sign)
      t.equal((await status(app, token)).status, 200, 'the canonical spelling is accepted')
      const variants = alternateSpellings(token)
      t.equal(variants.length, expected, `${expected} other spellings`)
      const signature = (token: string) => Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url')
      for (const variant of variants) {
        t.ok(signature(variant).equals(signature(token)), 'the same signature bytes')
        const answer = await status(app, variant)
        t.equal(answer.status, 401, 'another spelling is refused')
        t.equal(answer.detail, 'The token signature is not canonical base64url.')
      }
      t.equal((await status(app, token)).status, 200, 'the canonical spelling still works')
    })
  }
})

t.test('JWKS: made-up algs for a known kid are refused before any fetch and evict nothing', async (t) => {
  const ec = keyPair('ec')
  const jwks = await startJwks(t, [{ ...ec.publicJwk, kid: 'k1', alg: 'ES256', use: 'sig' }])
  const app = await build(t, { env: { JWT_SECRET: undefined, JWT_JWKS_URL: jwks.url, JWT_JWKS_MIN_REFETCH_SECONDS: '0' } })
  const good = () => tokenFor('alice', { key: ec.privatePem, algorithm: 'ES256', kid: 'k1' })
  t.equal((await status(app, good())).status, 200)
  t.equal(jwks.fetches.length, 1, 'one fetch')
  const payload = b64(JSON.stringify({ sub: 'alice', exp: now() + 600 }))
  for (let i = 0; i < 300; i++) {
    const alg = ['HS256', 'RS512', 'PS256', 'ES384', 'none', `X${i}`][i % 6] as string
    const token = `${b64(JSON.stringify({ alg, kid: 'k1' }))}.${payload}.${randomBytes(64).toString('base64url')}`
    const answer = await status(app, token)
    if (answer.status !== 401) t.fail(`alg ${alg} → ${answer.status}`)
  }
  t.pass('300 tokens with made-up algs → 401')
  t.equal(jwks.fetches.length, 1, 'and no JWKS fetch, even with no refetch limit')
  t.equal((await status(app, good())).status, 200, 'the real key still works')
  t.equal(jwks.fetches.length, 1, 'without a fetch: it is still known')
})

t.test('JWKS: 2,000 tokens with random kids cause at most one fetch per JWT_JWKS_MIN_REFETCH_SECONDS', async (t) => {
  const ec = keyPair('ec')
  const jwks = await startJwks(t, [{ ...ec.publicJwk, kid: 'k1', alg: 'ES256', use: 'sig' }])
  const app = await build(t, { env: { JWT_SECRET: undefined, JWT_JWKS_URL: jwks.url, JWT_JWKS_MIN_REFETCH_SECONDS: '1' } })
  const good = tokenFor('alice', { key: ec.privatePem, algorithm: 'ES256', kid: 'k1' })
  const randomKid = () => tokenFor('alice', { key: ec.privatePem, algorithm: 'ES256', kid: randomBytes(12).toString('hex') })

  // Cold start: 100 unknown kids at once share one fetch.
  const cold = await Promise.all(Array.from({ length: 100 }, () => status(app, randomKid())))
  t.ok(cold.every((answer) => answer.status === 401), 'unknown kids → 401')
  t.equal(jwks.fetches.length, 1, 'concurrent lookups shared one fetch')

  // 2,000 tokens with random kids over about 3 seconds, 50 at a time.
  const started = Date.now()
  const statuses = new Map<number, number>()
  for (let batch = 0; batch < 40; batch++) {
    const answers = await Promise.all(Array.from({ length: 50 }, () => status(app, randomKid())))
    for (const { status } of answers) statuses.set(status, (statuses.get(status) ?? 0) + 1)
    await sleep(Math.max(0, started + (batch + 1) * 75 - Date.now()))
  }
  const elapsed = Date.now() - started
  t.same([...statuses], [[401, 2000]], 'every one → 401 (never 503, never 200)')
  const gaps = jwks.fetches.slice(1).map((at, i) => at - (jwks.fetches[i] as number))
  t.ok(gaps.every((gap) => gap >= 950), `fetches at least a window apart (gaps: ${gaps.slice(0, 10).join(', ')} ms)`)
  t.ok(jwks.fetches.length <= Math.ceil(elapsed / 1000) + 2, `${jwks.fetches.length} fetches in ${elapsed} ms`)

  // The real key was never pushed out.
  const before = jwks.fetches.length
  t.equal((await status(app, good)).status, 200, 'the known key still works')
  t.equal(jwks.fetches.length, before, 'without a fetch')
})

t.test('JWKS: with the default window, unknown kids between fetches are refused at once; rotation after the window', async (t) => {
  const ec = keyPair('ec')
  const next = keyPair('ec')
  const jwks = await startJwks(t, [{ ...ec.publicJwk, kid: 'k1', alg: 'ES256', use: 'sig' }])
  const defaults = await build(t, { env: { JWT_SECRET: undefined, JWT_JWKS_URL: jwks.url } })
  t.equal((await status(defaults, tokenFor('alice', { key: ec.privatePem, algorithm: 'ES256', kid: 'k1' }))).status, 200)
  for (let i = 0; i < 200; i++) await status(defaults, tokenFor('alice', { key: ec.privatePem, algorithm: 'ES256', kid: `nope-${i}` }))
  t.equal(jwks.fetches.length, 1, 'default 30 s: 200 unknown kids right after a fetch cause none')

  const short = await build(t, { env: { JWT_SECRET: undefined, JWT_JWKS_URL: jwks.url, JWT_JWKS_MIN_REFETCH_SECONDS: '1' } })
  t.equal((await status(short, tokenFor('alice', { key: ec.privatePem, algorithm: 'ES256', kid: 'k1' }))).status, 200)
  const fetched = jwks.fetches.length
  jwks.serve([{ ...ec.publicJwk, kid: 'k1', alg: 'ES256', use: 'sig' }, { ...next.publicJwk, kid: 'k2', alg: 'ES256', use: 'sig' }])
  const rotated = tokenFor('alice', { key: next.privatePem, algorithm: 'ES256', kid: 'k2' })
  t.equal((await status(short, rotated)).status, 401, 'a new kid within the window: 401 at once')
  t.equal(jwks.fetches.length, fetched, 'no fetch')
  await sleep(1100)
  t.equal((await status(short, rotated)).status, 200, 'after the window the rotated-in key is fetched and accepted')
  t.equal(jwks.fetches.length, fetched + 1, 'one fetch')
})

t.test('JWKS: keys the document cannot vouch for are not used', async (t) => {
  const ec = keyPair('ec')
  const other = keyPair('ec')
  const rsa = keyPair('rsa')
  const jwks = await startJwks(t, [
    { ...ec.publicJwk, kid: 'dup', alg: 'ES256' }, { ...other.publicJwk, kid: 'dup', alg: 'ES256' },
    { ...ec.publicJwk, kid: 'enc', use: 'enc' },
    { ...ec.publicJwk, kid: 'wrong-alg', alg: 'RS256' },
    { ...rsa.publicJwk, kid: 'rsa' }
  ])
  const app = await build(t, { env: { JWT_SECRET: undefined, JWT_JWKS_URL: jwks.url, JWT_JWKS_MIN_REFETCH_SECONDS: '0' } })
  t.equal((await status(app, tokenFor('alice', { key: ec.privatePem, algorithm: 'ES256', kid: 'dup' }))).status, 401, 'a kid published twice is ambiguous')
  t.equal((await status(app, tokenFor('alice', { key: ec.privatePem, algorithm: 'ES256', kid: 'enc' }))).status, 401, 'an encryption key')
  t.equal((await status(app, tokenFor('alice', { key: ec.privatePem, algorithm: 'ES256', kid: 'wrong-alg' }))).status, 401, 'a JWK whose alg contradicts its type')
  t.equal((await status(app, tokenFor('alice', { key: rsa.privatePem, algorithm: 'RS256', kid: 'rsa' }))).status, 200, 'an RSA key without alg: RS256')
  const mismatch = await status(app, tokenFor('alice', { key: ec.privatePem, algorithm: 'ES256', kid: 'rsa' }))
  t.equal(mismatch.status, 401, 'ES256 claimed for the RSA key')
  t.equal(mismatch.detail, "The token's alg does not match its key.")
})

t.test('the new variables are validated', async (t) => {
  const { configure } = await import('../helpers/app.js')
  const { OFFLINE_STORAGE_ENV } = await import('../helpers/app.js')
  const env = { ...OFFLINE_STORAGE_ENV, JWT_SECRET: TEST_JWT_SECRET, PERMISSIONS_URL: 'http://127.0.0.1:9/check' }
  const fallback = await configure(t, env)
  t.equal(fallback.app?.config.jwt.maxLifetimeSeconds, 86400)
  const jwks = await configure(t, { ...env, JWT_SECRET: undefined, JWT_JWKS_URL: 'http://127.0.0.1:9/jwks.json' })
  t.match(jwks.app?.config.jwt, { kind: 'jwks', minRefetchSeconds: 30 })
  for (const [name, value] of [['JWT_MAX_LIFETIME_SECONDS', '0'], ['JWT_MAX_LIFETIME_SECONDS', 'forever'], ['JWT_JWKS_MIN_REFETCH_SECONDS', '-1'], ['JWT_JWKS_MIN_REFETCH_SECONDS', '3601']] as const) {
    const { error } = await configure(t, { ...env, [name]: value })
    t.match(error, { name: 'ConfigError', variables: [name] }, `${name}=${value}`)
  }
})
