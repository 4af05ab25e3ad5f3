/**
 * Bearer-token authentication on /v1: header parsing, signature, claims, issuer and
 * audience, algorithm pinning per key type (no HS/RS confusion, no weak RSA), and JWKS
 * key lookup by kid (cache, refetch on unknown kid, rotation, JWKS down → 503).
 * Everything over real HTTP against an app with a real permission-service stub.
 */
import { createHmac, generateKeyPairSync } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { createSigner } from 'fast-jwt'
import { buildApp } from '../../src/app.js'
import { ConfigError } from '../../src/config/config.js'
import { build, OFFLINE_STORAGE_ENV, type TestApp } from '../helpers/app.js'
import { bearer, keyPair, TEST_JWT_SECRET, tokenFor, unsignedToken } from '../helpers/tokens.js'

const CHALLENGE = 'Bearer realm="r2-signer"'
const INVALID_TOKEN_CHALLENGE = 'Bearer realm="r2-signer", error="invalid_token"'
const BODY = { key: 'users/alice/report.pdf' }

const now = () => Math.floor(Date.now() / 1000)
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** An HS256 token signed with an arbitrary secret and arbitrary header/claims, as an attacker would make it. */
function rawHs256 (secret: string | Buffer, claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }): string {
  const input = `${b64url(header)}.${b64url(claims)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

function download (app: TestApp, headers: Record<string, string>) {
  return app.post('/v1/download-urls', BODY, headers)
}

/** A 401 problem with the invalid_token challenge, no URL, and no call to the permission service. */
async function assertInvalidToken (t: Test, app: TestApp, res: Response, challenge = INVALID_TOKEN_CHALLENGE) {
  t.equal(res.status, 401, 'status 401')
  t.equal(res.headers.get('www-authenticate'), challenge, 'WWW-Authenticate')
  t.match(res.headers.get('content-type'), /^application\/problem\+json/, 'problem+json')
  t.equal(res.headers.get('cache-control'), 'no-store', 'no-store')
  const body = await res.json() as Record<string, unknown>
  t.equal(body.status, 401)
  t.equal(body.code, 'UNAUTHORIZED')
  t.notOk('url' in body, 'no url in a failure')
  t.equal(app.permissions.received.length, 0, 'the permission service is not asked')
}

async function assertAccepted (t: Test, res: Response) {
  t.equal(res.status, 200, 'status 200')
  const body = await res.json() as Record<string, unknown>
  t.type(body.url, 'string', 'a URL is returned')
}

async function configErrorFor (env: Record<string, string | undefined>): Promise<unknown> {
  try {
    const app = await buildApp({ env })
    try {
      await app.ready()
    } finally {
      await app.close()
    }
  } catch (error) {
    return error
  }
  return undefined
}

t.test('HS256 app (JWT_SECRET)', async (t) => {
  const app = await build(t)

  t.test('a valid token is accepted and the subject reaches the permission service', async (t) => {
    const before = app.permissions.received.length
    await assertAccepted(t, await download(app, bearer(tokenFor('alice'))))
    t.match(app.permissions.received[before]?.body, { subject: 'alice' })
  })

  t.test('cases', async (t) => {
    // Every case gets its own fresh count of permission checks.
    const cases: Array<[string, Record<string, string>]> = [
      ['Basic credentials', { authorization: 'Basic YWxpY2U6c2VjcmV0' }],
      ['"Bearer" alone', { authorization: 'Bearer' }],
      ['"Bearer " with trailing space only', { authorization: 'Bearer    ' }],
      ['token without scheme', { authorization: tokenFor('alice') }],
      ['not a JWT', bearer('not-a-jwt')],
      ['bad signature', bearer(tokenFor('alice', { key: 'another-secret-of-at-least-32-characters!' }))],
      ['tampered payload', bearer((() => {
        const [h, , s] = tokenFor('alice').split('.')
        return `${h}.${b64url({ sub: 'admin', exp: now() + 600 })}.${s}`
      })())],
      ['expired', bearer(tokenFor('alice', { claims: { iat: now() - 1200, exp: now() - 600 } }))],
      ['nbf in the future', bearer(tokenFor('alice', { claims: { nbf: now() + 600 } }))],
      ['alg none', bearer(unsignedToken({ sub: 'alice', exp: now() + 600 }))],
      ['alg none (upper case)', bearer(`${b64url({ alg: 'NONE', typ: 'JWT' })}.${b64url({ sub: 'alice', exp: now() + 600 })}.`)],
      ['no sub', bearer(tokenFor(undefined))],
      ['empty sub', bearer(tokenFor(''))],
      ['numeric sub', bearer(tokenFor(undefined, { claims: { sub: 42 } }))],
      ['object sub', bearer(tokenFor(undefined, { claims: { sub: { id: 'alice' } } }))],
      ['null sub', bearer(tokenFor(undefined, { claims: { sub: null } }))],
      ['no exp', bearer(rawHs256(TEST_JWT_SECRET, { sub: 'alice', iat: now() }))],
      ['HS512 with the right secret', bearer(createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS512' })({ sub: 'alice', exp: now() + 600 }))]
    ]
    for (const [name, headers] of cases) {
      t.test(name, async (t) => {
        const local = await build(t)
        await assertInvalidToken(t, local, await download(local, headers))
      })
    }
  })

  t.test('no Authorization header at all: challenge without an error code (RFC 6750 §3.1)', async (t) => {
    const local = await build(t)
    await assertInvalidToken(t, local, await download(local, {}), CHALLENGE)
  })

  t.test('the token never appears in the problem detail or the logs', async (t) => {
    const local = await build(t)
    const token = tokenFor('alice', { key: 'another-secret-of-at-least-32-characters!' })
    const res = await download(local, bearer(token))
    t.equal(res.status, 401)
    const text = await res.text()
    t.notOk(text.includes(token), 'not in the body')
    t.notOk(local.logText().includes(token.split('.')[2] as string), 'not in the logs')
  })

  t.test('the upload route is protected too', async (t) => {
    const local = await build(t)
    const res = await local.post('/v1/upload-urls', { key: 'a.txt', contentType: 'text/plain', contentLength: 1 }, bearer(unsignedToken({ sub: 'alice', exp: now() + 600 })))
    await assertInvalidToken(t, local, res)
  })
})

t.test('JWT_ISSUER and JWT_AUDIENCE are enforced when set', async (t) => {
  const app = await build(t, { env: { JWT_ISSUER: 'https://idp.example', JWT_AUDIENCE: 'r2-signer' } })
  const right = { iss: 'https://idp.example', aud: 'r2-signer' }

  t.test('right iss and aud accepted', async (t) => {
    await assertAccepted(t, await download(app, bearer(tokenFor('alice', { claims: right }))))
  })
  t.test('aud as an array containing ours accepted', async (t) => {
    await assertAccepted(t, await download(app, bearer(tokenFor('alice', { claims: { ...right, aud: ['other', 'r2-signer'] } }))))
  })

  const rejected: Array<[string, Record<string, unknown>]> = [
    ['wrong iss', { ...right, iss: 'https://evil.example' }],
    ['missing iss', { aud: 'r2-signer' }],
    ['wrong aud', { ...right, aud: 'another-service' }],
    ['missing aud', { iss: 'https://idp.example' }]
  ]
  for (const [name, claims] of rejected) {
    t.test(name, async (t) => {
      const local = await build(t, { env: { JWT_ISSUER: 'https://idp.example', JWT_AUDIENCE: 'r2-signer' } })
      await assertInvalidToken(t, local, await download(local, bearer(tokenFor('alice', { claims }))))
    })
  }

  t.test('without JWT_ISSUER/JWT_AUDIENCE any iss/aud is fine', async (t) => {
    const local = await build(t)
    await assertAccepted(t, await download(local, bearer(tokenFor('alice', { claims: { iss: 'whoever', aud: 'whatever' } }))))
  })
})

t.test('JWT_PUBLIC_KEY pins the algorithm to the key type', async (t) => {
  const rsa = keyPair('rsa')
  const ec = keyPair('ec')
  const ed = keyPair('ed25519')
  const keys = { RS256: rsa, ES256: ec, EdDSA: ed } as const

  for (const [alg, pair] of Object.entries(keys) as Array<[keyof typeof keys, typeof rsa]>) {
    t.test(`${alg} key`, async (t) => {
      const app = await build(t, { env: { JWT_SECRET: undefined, JWT_PUBLIC_KEY: pair.publicPem } })
      t.test(`${alg} token signed with the matching private key → 200`, async (t) => {
        await assertAccepted(t, await download(app, bearer(tokenFor('alice', { key: pair.privatePem, algorithm: alg }))))
      })
      for (const [otherAlg, other] of Object.entries(keys) as Array<[keyof typeof keys, typeof rsa]>) {
        if (otherAlg === alg) continue
        t.test(`${otherAlg} token (another asymmetric key type) → 401`, async (t) => {
          const local = await build(t, { env: { JWT_SECRET: undefined, JWT_PUBLIC_KEY: pair.publicPem } })
          await assertInvalidToken(t, local, await download(local, bearer(tokenFor('alice', { key: other.privatePem, algorithm: otherAlg }))))
        })
      }
      t.test('HS256 token using the PEM text as HMAC secret (HS/RS confusion) → 401', async (t) => {
        const local = await build(t, { env: { JWT_SECRET: undefined, JWT_PUBLIC_KEY: pair.publicPem } })
        await assertInvalidToken(t, local, await download(local, bearer(rawHs256(pair.publicPem, { sub: 'alice', exp: now() + 600 }))))
      })
      t.test('alg none → 401', async (t) => {
        const local = await build(t, { env: { JWT_SECRET: undefined, JWT_PUBLIC_KEY: pair.publicPem } })
        await assertInvalidToken(t, local, await download(local, bearer(unsignedToken({ sub: 'alice', exp: now() + 600 }))))
      })
    })
  }

  t.test('RSA key: PS256 with the right RSA key is still another algorithm → 401', async (t) => {
    const app = await build(t, { env: { JWT_SECRET: undefined, JWT_PUBLIC_KEY: rsa.publicPem } })
    const token = createSigner({ key: rsa.privatePem, algorithm: 'PS256' })({ sub: 'alice', exp: now() + 600 })
    await assertInvalidToken(t, app, await download(app, bearer(token)))
  })

  t.test('RSA key: RS512 with the right RSA key → 401', async (t) => {
    const app = await build(t, { env: { JWT_SECRET: undefined, JWT_PUBLIC_KEY: rsa.publicPem } })
    const token = createSigner({ key: rsa.privatePem, algorithm: 'RS512' })({ sub: 'alice', exp: now() + 600 })
    await assertInvalidToken(t, app, await download(app, bearer(token)))
  })

  t.test('RS256 token signed by another RSA key → 401', async (t) => {
    const app = await build(t, { env: { JWT_SECRET: undefined, JWT_PUBLIC_KEY: rsa.publicPem } })
    const other = keyPair('rsa')
    await assertInvalidToken(t, app, await download(app, bearer(tokenFor('alice', { key: other.privatePem, algorithm: 'RS256' }))))
  })

  t.test('a PEM with literal "\\n" escapes (env-file style) works', async (t) => {
    const app = await build(t, { env: { JWT_SECRET: undefined, JWT_PUBLIC_KEY: ec.publicPem.trim().replaceAll('\n', '\\n') } })
    await assertAccepted(t, await download(app, bearer(tokenFor('alice', { key: ec.privatePem, algorithm: 'ES256' }))))
  })
})

t.test('weak or unsupported public keys are rejected at configuration time', async (t) => {
  const weakRsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const rsaPrivateOnly = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  for (const [name, pem] of [['1024-bit RSA', weakRsa], ['EC P-384', p384]] as const) {
    t.test(name, async (t) => {
      const error = await configErrorFor({
        ...OFFLINE_STORAGE_ENV,
        PERMISSIONS_URL: 'http://127.0.0.1:9/check',
        JWT_PUBLIC_KEY: pem
      })
      t.ok(error instanceof ConfigError, 'ConfigError')
      t.same((error as ConfigError).variables, ['JWT_PUBLIC_KEY'])
      t.match((error as Error).message, /JWT_PUBLIC_KEY/)
    })
  }
  t.test('a private key PEM in JWT_PUBLIC_KEY is a ConfigError naming JWT_PUBLIC_KEY, without echoing it', async (t) => {
    const error = await configErrorFor({ ...OFFLINE_STORAGE_ENV, PERMISSIONS_URL: 'http://127.0.0.1:9/check', JWT_PUBLIC_KEY: rsaPrivateOnly })
    t.ok(error instanceof ConfigError, 'ConfigError (not a fast-jwt error at plugin load)')
    t.same((error as ConfigError).variables, ['JWT_PUBLIC_KEY'])
    const keyBody = rsaPrivateOnly.split('\n')[1] as string
    t.notOk(String((error as Error).message).includes(keyBody), 'the key material is not echoed')
  })
})

/** A real JWKS endpoint whose key set the test changes; counts fetches. */
async function startJwks (keys: object[]) {
  let current = keys
  let hits = 0
  let failWith: number | undefined
  const server: Server = createServer((req, res) => {
    hits++
    if (failWith !== undefined) {
      res.writeHead(failWith, { 'content-type': 'application/json' }).end('{"error":"boom"}')
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: current }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  return {
    url: `http://127.0.0.1:${port}/.well-known/keys.json?v=1`,
    get hits () { return hits },
    serve (next: object[]) { current = next },
    fail (status: number | undefined) { failWith = status },
    close
  }
}

function jwk (pair: ReturnType<typeof keyPair>, kid: string, alg: string): object {
  return { ...pair.publicJwk, kid, alg, use: 'sig' }
}

t.test('JWT_JWKS_URL', async (t) => {
  const rsa1 = keyPair('rsa')
  const rsa2 = keyPair('rsa')
  const ec = keyPair('ec')
  const ed = keyPair('ed25519')

  t.test('keys by kid: cached, refetched on unknown kid, rotation without restart, down → 503', async (t) => {
    const jwks = await startJwks([jwk(rsa1, 'k1', 'RS256'), jwk(ec, 'k-ec', 'ES256')])
    t.teardown(jwks.close)
    // No refetch limit here (the limit is tested in test/auth/jwt-hardening.test.ts).
    const app = await build(t, { env: { JWT_SECRET: undefined, JWT_JWKS_URL: jwks.url, JWT_JWKS_MIN_REFETCH_SECONDS: '0' } })

    await assertAccepted(t, await download(app, bearer(tokenFor('alice', { key: rsa1.privatePem, algorithm: 'RS256', kid: 'k1' }))))
    t.equal(jwks.hits, 1, 'JWKS fetched once')
    await assertAccepted(t, await download(app, bearer(tokenFor('alice', { key: rsa1.privatePem, algorithm: 'RS256', kid: 'k1' }))))
    t.equal(jwks.hits, 1, 'second token with the same kid served from cache')

    await assertAccepted(t, await download(app, bearer(tokenFor('alice', { key: ec.privatePem, algorithm: 'ES256', kid: 'k-ec' }))))
    t.ok(jwks.hits >= 1, 'ES256 key from the JWKS accepted')
    const beforeUnknown = jwks.hits

    // Unknown kid: the JWKS is fetched again, the key is still not there → 401.
    const unknown = await download(app, bearer(tokenFor('alice', { key: rsa2.privatePem, algorithm: 'RS256', kid: 'k2' })))
    t.equal(unknown.status, 401, 'unknown kid → 401')
    t.equal(unknown.headers.get('www-authenticate'), INVALID_TOKEN_CHALLENGE)
    t.ok(jwks.hits > beforeUnknown, 'unknown kid triggers a JWKS refetch')

    // Rotation: the identity provider now publishes k2; no restart needed.
    jwks.serve([jwk(rsa2, 'k2', 'RS256')])
    const beforeRotation = jwks.hits
    await assertAccepted(t, await download(app, bearer(tokenFor('alice', { key: rsa2.privatePem, algorithm: 'RS256', kid: 'k2' }))))
    t.ok(jwks.hits > beforeRotation, 'the rotated-in key was fetched')

    // A token claiming kid k2 but signed by another key is still rejected.
    const forged = await download(app, bearer(tokenFor('alice', { key: rsa1.privatePem, algorithm: 'RS256', kid: 'k2' })))
    t.equal(forged.status, 401, 'known kid, wrong signing key → 401')

    // JWKS down: a token with a new kid cannot be checked → 503, not 401 and never 200.
    await jwks.close()
    const down = await download(app, bearer(tokenFor('alice', { key: rsa1.privatePem, algorithm: 'RS256', kid: 'k3' })))
    t.equal(down.status, 503, 'JWKS down → 503')
    t.ok(down.headers.get('retry-after'), 'Retry-After')
    t.match(down.headers.get('content-type'), /^application\/problem\+json/)
    t.equal(down.headers.get('cache-control'), 'no-store')
    const body = await down.json() as Record<string, unknown>
    t.equal(body.code, 'TOKEN_KEYS_UNAVAILABLE')
    t.equal(body.status, 503)
    t.notOk('url' in body)

    // An already cached key keeps working while the JWKS is down.
    await assertAccepted(t, await download(app, bearer(tokenFor('alice', { key: rsa2.privatePem, algorithm: 'RS256', kid: 'k2' }))))
  })

  t.test('JWKS answering 500 → 503 TOKEN_KEYS_UNAVAILABLE', async (t) => {
    const jwks = await startJwks([jwk(rsa1, 'k1', 'RS256')])
    t.teardown(jwks.close)
    jwks.fail(500)
    const app = await build(t, { env: { JWT_SECRET: undefined, JWT_JWKS_URL: jwks.url } })
    const res = await download(app, bearer(tokenFor('alice', { key: rsa1.privatePem, algorithm: 'RS256', kid: 'k1' })))
    t.equal(res.status, 503)
    t.ok(res.headers.get('retry-after'))
    t.match(await res.json(), { code: 'TOKEN_KEYS_UNAVAILABLE' })
    t.equal(app.permissions.received.length, 0)
  })

  t.test('EdDSA (Ed25519 OKP key) from the JWKS is accepted', async (t) => {
    const jwks = await startJwks([jwk(ed, 'k-ed', 'EdDSA')])
    t.teardown(jwks.close)
    const app = await build(t, { env: { JWT_SECRET: undefined, JWT_JWKS_URL: jwks.url } })
    await assertAccepted(t, await download(app, bearer(tokenFor('alice', { key: ed.privatePem, algorithm: 'EdDSA', kid: 'k-ed' }))))
  })

  t.test('tokens a JWKS app must reject', async (t) => {
    const jwks = await startJwks([jwk(rsa1, 'k1', 'RS256'), { ...rsa1.publicJwk, kid: 'k-noalg' }])
    t.teardown(jwks.close)
    const cases: Array<[string, string]> = [
      ['no kid', tokenFor('alice', { key: rsa1.privatePem, algorithm: 'RS256' })],
      ['HS256 signed with the JWK text, known kid', rawHs256(JSON.stringify(jwk(rsa1, 'k1', 'RS256')), { sub: 'alice', exp: now() + 600 }, { alg: 'HS256', kid: 'k1' })],
      ['HS256 with a kid whose JWK has no alg', rawHs256('x'.repeat(32), { sub: 'alice', exp: now() + 600 }, { alg: 'HS256', kid: 'k-noalg' })],
      ['alg none, known kid', `${b64url({ alg: 'none', kid: 'k1' })}.${b64url({ sub: 'alice', exp: now() + 600 })}.`],
      ['expired, known kid', tokenFor('alice', { key: rsa1.privatePem, algorithm: 'RS256', kid: 'k1', claims: { exp: now() - 60 } })],
      ['no sub, known kid', tokenFor(undefined, { key: rsa1.privatePem, algorithm: 'RS256', kid: 'k1' })]
    ]
    for (const [name, token] of cases) {
      t.test(name, async (t) => {
        const app = await build(t, { env: { JWT_SECRET: undefined, JWT_JWKS_URL: jwks.url } })
        await assertInvalidToken(t, app, await download(app, bearer(token)))
      })
    }
  })
})
