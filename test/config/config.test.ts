/**
 * Configuration: one ConfigError naming every offending variable at once and never a
 * secret value; exactly one JWT key source; endpoint rules (R2_ACCOUNT_ID, S3_ENDPOINT);
 * TTLs; empty values as unset; S3_ALLOWED_BUCKETS. Then the production entry point
 * (src/server.ts) as a real process: bad environment → non-zero exit before listening
 * with one stderr message; good environment → listens and answers /healthz.
 */
import { generateKeyPairSync } from 'node:crypto'
import t, { type Test } from 'tap'
import { ConfigError, type RawEnv } from '../../src/config/config.js'
import { configure, configured, rejectsConfig } from '../helpers/app.js'
import { startPermissionStub } from '../helpers/permission-stub.js'
import { startServerProcess } from '../helpers/server-process.js'
import { bearer, keyPair, tokenFor, TEST_JWT_SECRET } from '../helpers/tokens.js'

const ACCOUNT_ID = '0123456789abcdef0123456789ABCDEF'
const SECRET_MARKER = 'S3SECRET-d0-n0t-ech0-7f3a9c'

/** rejectsConfig, also checking that the S3 secret marker is never echoed (even where env lacks it). */
const rejects = (t: Test, env: RawEnv, variables: string[]) => rejectsConfig(t, env, variables, [SECRET_MARKER])

/** A complete, valid environment. */
const GOOD: RawEnv = {
  LOG_LEVEL: 'silent',
  S3_ENDPOINT: 'http://127.0.0.1:9000',
  S3_ACCESS_KEY_ID: 'AKIDEXAMPLE',
  S3_SECRET_ACCESS_KEY: SECRET_MARKER,
  S3_BUCKET: 'media',
  JWT_SECRET: TEST_JWT_SECRET,
  PERMISSIONS_URL: 'http://127.0.0.1:9/check'
}

t.test('a good environment', async (t) => {
  const app = await configured(t, GOOD)
  t.same(app.config.storage.endpoint, 'http://127.0.0.1:9000')
  t.same([...app.config.storage.allowedBuckets], ['media'])
  t.equal(app.config.port, 8080, 'default PORT')
  t.equal(app.config.signedUrls.defaultTtlSeconds, 300, 'default TTL')
  t.equal(app.config.signedUrls.maxTtlSeconds, 3600, 'default max TTL')
  t.equal(app.config.permissions.timeoutMs, 2000, 'default permission timeout')
  t.match(app.config.jwt, { kind: 'secret', algorithms: ['HS256'] })
})

t.test('every offending variable at once, no secret echoed', async (t) => {
  const marker = 'PEM-MARKER-4b1d-never-in-messages'
  const error = await rejects(t, {
    LOG_LEVEL: 'loud',
    PORT: 'eighty',
    S3_ENDPOINT: 'http://127.0.0.1:9000/some/path',
    S3_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    S3_SECRET_ACCESS_KEY: SECRET_MARKER,
    S3_BUCKET: 'Not_A_Bucket',
    SIGNED_URL_TTL_SECONDS: '7200',
    SIGNED_URL_MAX_TTL_SECONDS: '3600',
    JWT_PUBLIC_KEY: `-----BEGIN PUBLIC KEY-----\n${marker}\n-----END PUBLIC KEY-----`,
    PERMISSIONS_URL: 'ftp://perm.example/check',
    PERMISSIONS_TIMEOUT_MS: '0'
  }, ['LOG_LEVEL', 'PORT', 'S3_ENDPOINT', 'S3_BUCKET', 'SIGNED_URL_TTL_SECONDS', 'JWT_PUBLIC_KEY', 'PERMISSIONS_URL', 'PERMISSIONS_TIMEOUT_MS'])
  t.notOk(error?.message.includes(marker), 'the invalid JWT_PUBLIC_KEY value is not echoed')
  t.notOk(error?.message.includes('Not_A_Bucket'), 'values are not echoed')
  t.equal(error?.message.split('\n').length, 1, 'one line')
})

t.test('an empty environment names every required variable', async (t) => {
  await rejects(t, {}, ['S3_ENDPOINT', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'S3_BUCKET', 'JWT_SECRET', 'PERMISSIONS_URL'])
})

t.test('secrets are never echoed, even when they are the invalid value', async (t) => {
  const shortSecret = 'short-jwt-secret-MARK'
  const error = await rejects(t, { ...GOOD, JWT_SECRET: shortSecret, S3_REGION: `bad region ${SECRET_MARKER}` }, ['JWT_SECRET', 'S3_REGION'])
  t.notOk(error?.message.includes(shortSecret), 'the too-short JWT_SECRET is not echoed')
})

t.test('exactly one JWT key source', async (t) => {
  const { publicPem } = keyPair('ec')
  const jwks = 'https://idp.example/.well-known/jwks.json'

  t.test('none', async (t) => {
    const error = await rejects(t, { ...GOOD, JWT_SECRET: undefined }, ['JWT_SECRET'])
    t.match(error?.message, /JWT_PUBLIC_KEY/, 'mentions the alternatives')
    t.match(error?.message, /JWT_JWKS_URL/, 'mentions the alternatives')
  })
  for (const [name, env] of [
    ['secret + public key', { JWT_PUBLIC_KEY: publicPem }],
    ['secret + JWKS', { JWT_JWKS_URL: jwks }],
    ['public key + JWKS', { JWT_SECRET: undefined, JWT_PUBLIC_KEY: publicPem, JWT_JWKS_URL: jwks }],
    ['all three', { JWT_PUBLIC_KEY: publicPem, JWT_JWKS_URL: jwks }]
  ] as const) {
    t.test(name, async (t) => {
      const { error } = await configure(t, { ...GOOD, ...env })
      t.ok(error instanceof ConfigError, 'ConfigError')
      t.match((error as ConfigError).variables.join(','), /JWT_(PUBLIC_KEY|JWKS_URL)/, 'names a key source variable')
      t.match((error as Error).message, /exactly one/)
    })
  }
  t.test('JWT_PUBLIC_KEY alone', async (t) => {
    const app = await configured(t, { ...GOOD, JWT_SECRET: undefined, JWT_PUBLIC_KEY: publicPem })
    t.match(app.config.jwt, { kind: 'public-key', algorithms: ['ES256'] })
  })
  t.test('JWT_JWKS_URL alone: asymmetric algorithms only', async (t) => {
    const app = await configured(t, { ...GOOD, JWT_SECRET: undefined, JWT_JWKS_URL: jwks })
    t.equal(app.config.jwt.kind, 'jwks')
    t.same([...app.config.jwt.algorithms].sort(), ['ES256', 'EdDSA', 'RS256'])
  })
  t.test('JWT_JWKS_URL not an http(s) URL', async (t) => {
    await rejects(t, { ...GOOD, JWT_SECRET: undefined, JWT_JWKS_URL: 'file:///etc/keys.json' }, ['JWT_JWKS_URL'])
  })
  t.test('JWT_SECRET shorter than 32 characters', async (t) => {
    await rejects(t, { ...GOOD, JWT_SECRET: 'x'.repeat(31) }, ['JWT_SECRET'])
  })
  t.test('a 1024-bit RSA JWT_PUBLIC_KEY', async (t) => {
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
    await rejects(t, { ...GOOD, JWT_SECRET: undefined, JWT_PUBLIC_KEY: weak }, ['JWT_PUBLIC_KEY'])
  })
})

t.test('storage endpoint', async (t) => {
  t.test('R2_ACCOUNT_ID derives https://<id>.r2.cloudflarestorage.com', async (t) => {
    const app = await configured(t, { ...GOOD, S3_ENDPOINT: undefined, R2_ACCOUNT_ID: ACCOUNT_ID })
    t.equal(app.config.storage.endpoint, `https://${ACCOUNT_ID.toLowerCase()}.r2.cloudflarestorage.com`)
  })

  t.test('... and the signed URLs use it', async (t) => {
    const stub = await startPermissionStub()
    t.teardown(stub.close)
    const app = await configured(t, { ...GOOD, S3_ENDPOINT: undefined, R2_ACCOUNT_ID: ACCOUNT_ID, PERMISSIONS_URL: stub.url })
    const address = await app.listen({ port: 0, host: '127.0.0.1' })
    const res = await fetch(`${address}/v1/download-urls`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(tokenFor('alice')) },
      body: JSON.stringify({ key: 'a.txt' })
    })
    t.equal(res.status, 200)
    const { url } = await res.json() as { url: string }
    t.equal(new URL(url).origin, `https://${ACCOUNT_ID.toLowerCase()}.r2.cloudflarestorage.com`)
  })

  t.test('S3_ENDPOINT wins over R2_ACCOUNT_ID', async (t) => {
    const app = await configured(t, { ...GOOD, S3_ENDPOINT: 'https://abc.eu.r2.cloudflarestorage.com', R2_ACCOUNT_ID: ACCOUNT_ID })
    t.equal(app.config.storage.endpoint, 'https://abc.eu.r2.cloudflarestorage.com')
  })

  t.test('a trailing slash is fine', async (t) => {
    const app = await configured(t, { ...GOOD, S3_ENDPOINT: 'http://127.0.0.1:9000/' })
    t.equal(app.config.storage.endpoint, 'http://127.0.0.1:9000')
  })

  for (const endpoint of ['http://127.0.0.1:9000/bucket', 'https://s3.example/a/b/', 'http://h:9000/?x=1', 'http://user:pass@h:9000', 'ftp://h', 'not a url', 'http://h:9000/#frag']) {
    t.test(`S3_ENDPOINT ${endpoint} → error`, async (t) => {
      const error = await rejects(t, { ...GOOD, S3_ENDPOINT: endpoint }, ['S3_ENDPOINT'])
      t.notOk(error?.message.includes('pass@'), 'credentials in the URL are not echoed')
    })
  }

  t.test('neither S3_ENDPOINT nor R2_ACCOUNT_ID', async (t) => {
    await rejects(t, { ...GOOD, S3_ENDPOINT: undefined }, ['S3_ENDPOINT'])
  })

  for (const id of ['0123', 'g123456789abcdef0123456789abcdef', `${ACCOUNT_ID}0`]) {
    t.test(`R2_ACCOUNT_ID ${id} → error`, async (t) => {
      await rejects(t, { ...GOOD, S3_ENDPOINT: undefined, R2_ACCOUNT_ID: id }, ['R2_ACCOUNT_ID'])
    })
  }
})

t.test('signed URL lifetimes', async (t) => {
  t.test('TTL above the max → error', async (t) => {
    await rejects(t, { ...GOOD, SIGNED_URL_TTL_SECONDS: '601', SIGNED_URL_MAX_TTL_SECONDS: '600' }, ['SIGNED_URL_TTL_SECONDS'])
  })
  t.test('TTL above the default max (3600) → error', async (t) => {
    await rejects(t, { ...GOOD, SIGNED_URL_TTL_SECONDS: '3601' }, ['SIGNED_URL_TTL_SECONDS'])
  })
  t.test('TTL equal to the max is fine', async (t) => {
    const app = await configured(t, { ...GOOD, SIGNED_URL_TTL_SECONDS: '600', SIGNED_URL_MAX_TTL_SECONDS: '600' })
    t.same(app.config.signedUrls, { defaultTtlSeconds: 600, maxTtlSeconds: 600 })
  })
  for (const [name, value] of [['0', '0'], ['above a week', '604801'], ['fractional', '1.5'], ['not a number', 'ten']]) {
    t.test(`SIGNED_URL_MAX_TTL_SECONDS ${name} → error`, async (t) => {
      const { error } = await configure(t, { ...GOOD, SIGNED_URL_TTL_SECONDS: '1', SIGNED_URL_MAX_TTL_SECONDS: value })
      t.ok(error instanceof ConfigError)
      t.ok((error as ConfigError).variables.includes('SIGNED_URL_MAX_TTL_SECONDS'), 'names SIGNED_URL_MAX_TTL_SECONDS')
    })
  }
})

t.test('empty values count as unset', async (t) => {
  t.test('empty S3_ENDPOINT with R2_ACCOUNT_ID', async (t) => {
    const app = await configured(t, { ...GOOD, S3_ENDPOINT: '', R2_ACCOUNT_ID: ACCOUNT_ID })
    t.match(app.config.storage.endpoint, /r2\.cloudflarestorage\.com$/)
  })
  t.test('empty JWT_PUBLIC_KEY and JWT_JWKS_URL next to JWT_SECRET', async (t) => {
    const app = await configured(t, { ...GOOD, JWT_PUBLIC_KEY: '', JWT_JWKS_URL: '' })
    t.equal(app.config.jwt.kind, 'secret')
  })
  t.test('empty optional values take their defaults', async (t) => {
    const app = await configured(t, { ...GOOD, PORT: '', LOG_LEVEL: '', SIGNED_URL_TTL_SECONDS: '', S3_REGION: '', S3_ALLOWED_BUCKETS: '', JWT_ISSUER: '', JWT_AUDIENCE: '' })
    t.equal(app.config.port, 8080)
    t.equal(app.config.signedUrls.defaultTtlSeconds, 300)
    t.equal(app.config.storage.region, 'auto')
    t.same([...app.config.storage.allowedBuckets], ['media'])
    t.equal(app.config.jwt.issuer, undefined, 'no issuer check')
    t.equal(app.config.jwt.audience, undefined, 'no audience check')
  })
  t.test('empty required values are missing', async (t) => {
    await rejects(t, { ...GOOD, S3_BUCKET: '', S3_ACCESS_KEY_ID: '', S3_SECRET_ACCESS_KEY: '', PERMISSIONS_URL: '' }, ['S3_BUCKET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'PERMISSIONS_URL'])
  })
  t.test('an empty JWT_SECRET alone is no key source', async (t) => {
    await rejects(t, { ...GOOD, JWT_SECRET: '' }, ['JWT_SECRET'])
  })
})

t.test('S3_ALLOWED_BUCKETS', async (t) => {
  t.test('comma-separated, trimmed, empty items ignored, S3_BUCKET always included', async (t) => {
    const app = await configured(t, { ...GOOD, S3_ALLOWED_BUCKETS: ' archive , backups,,media ,' })
    t.same([...app.config.storage.allowedBuckets].sort(), ['archive', 'backups', 'media'])
  })
  t.test('an invalid bucket name → error', async (t) => {
    await rejects(t, { ...GOOD, S3_ALLOWED_BUCKETS: 'archive,Bad_Bucket' }, ['S3_ALLOWED_BUCKETS'])
  })
  t.test('a too-short bucket name → error', async (t) => {
    await rejects(t, { ...GOOD, S3_ALLOWED_BUCKETS: 'ab' }, ['S3_ALLOWED_BUCKETS'])
  })
})

t.test('upload ceiling: UPLOAD_MAX_BYTES and UPLOAD_CONTENT_TYPES', async (t) => {
  t.test('defaults: 5 GiB, any type', async (t) => {
    const app = await configured(t, GOOD)
    t.same(app.config.uploads, { maxBytes: 5 * 1024 ** 3, contentTypes: undefined })
  })
  t.test('a list of media types and type/*, lower-cased', async (t) => {
    const app = await configured(t, { ...GOOD, UPLOAD_MAX_BYTES: '2097152', UPLOAD_CONTENT_TYPES: ' Image/* , application/pdf ' })
    t.same(app.config.uploads, { maxBytes: 2097152, contentTypes: ['image/*', 'application/pdf'] })
  })
  t.test('invalid values are a configuration error', async (t) => {
    await rejects(t, { ...GOOD, UPLOAD_MAX_BYTES: '-1' }, ['UPLOAD_MAX_BYTES'])
    await rejects(t, { ...GOOD, UPLOAD_MAX_BYTES: '1.5' }, ['UPLOAD_MAX_BYTES'])
    await rejects(t, { ...GOOD, UPLOAD_MAX_BYTES: String(5 * 1024 ** 4) }, ['UPLOAD_MAX_BYTES'])
    for (const value of ['image', '*/*', 'image/png; q=1', ',']) await rejects(t, { ...GOOD, UPLOAD_CONTENT_TYPES: value }, ['UPLOAD_CONTENT_TYPES'])
  })
})

t.test('other variables', async (t) => {
  t.test('PERMISSIONS_URL must be http(s)', async (t) => {
    await rejects(t, { ...GOOD, PERMISSIONS_URL: 'perm.example/check' }, ['PERMISSIONS_URL'])
  })
  t.test('batch settings: defaults, PERMISSIONS_BATCH_URL must be http(s), bounds', async (t) => {
    const app = await configured(t, GOOD)
    t.same(app.config.batch, { maxItems: 1000 })
    t.match(app.config.permissions, { batchUrl: undefined, batchConcurrency: 16 })
    const set = await configured(t, { ...GOOD, PERMISSIONS_BATCH_URL: 'http://127.0.0.1:9/batch', PERMISSIONS_BATCH_CONCURRENCY: '4', BATCH_MAX_ITEMS: '50' })
    t.same(set.config.batch, { maxItems: 50 })
    t.match(set.config.permissions, { batchUrl: 'http://127.0.0.1:9/batch', batchConcurrency: 4 })
    await rejects(t, { ...GOOD, PERMISSIONS_BATCH_URL: 'perm.example/batch' }, ['PERMISSIONS_BATCH_URL'])
    await rejects(t, { ...GOOD, PERMISSIONS_BATCH_CONCURRENCY: '0' }, ['PERMISSIONS_BATCH_CONCURRENCY'])
    await rejects(t, { ...GOOD, BATCH_MAX_ITEMS: '0' }, ['BATCH_MAX_ITEMS'])
    await rejects(t, { ...GOOD, BATCH_MAX_ITEMS: '5001' }, ['BATCH_MAX_ITEMS'])
  })
  t.test('PERMISSIONS_TIMEOUT_MS must be a positive integer', async (t) => {
    await rejects(t, { ...GOOD, PERMISSIONS_TIMEOUT_MS: '-5' }, ['PERMISSIONS_TIMEOUT_MS'])
  })
  t.test('PORT out of range', async (t) => {
    await rejects(t, { ...GOOD, PORT: '70000' }, ['PORT'])
  })
  t.test('S3_FORCE_PATH_STYLE must be a boolean', async (t) => {
    await rejects(t, { ...GOOD, S3_FORCE_PATH_STYLE: 'maybe' }, ['S3_FORCE_PATH_STYLE'])
  })
  t.test('JWT_ISSUER and JWT_AUDIENCE are carried into the JWT config', async (t) => {
    const app = await configured(t, { ...GOOD, JWT_ISSUER: 'https://idp.example', JWT_AUDIENCE: 'r2-signer' })
    t.match(app.config.jwt, { issuer: 'https://idp.example', audience: 'r2-signer' })
  })
})

t.test('src/server.ts with a bad environment exits non-zero before listening, with one message', async (t) => {
  const marker = 'PEM-MARKER-server-9e1'
  const server = startServerProcess({
    env: {
      HOST: '127.0.0.1',
      PORT: '0',
      S3_ENDPOINT: 'http://127.0.0.1:9000/path',
      S3_SECRET_ACCESS_KEY: SECRET_MARKER,
      S3_BUCKET: 'media',
      JWT_PUBLIC_KEY: `-----BEGIN PUBLIC KEY-----\n${marker}\n-----END PUBLIC KEY-----`,
      PERMISSIONS_URL: 'http://127.0.0.1:9/check'
    },
    killAfterMs: 10_000
  })
  const { code } = await server.exited
  const stdout = server.stdout()
  const stderr = server.stderr()
  t.not(code, 0, 'non-zero exit')
  t.not(code, null, 'exited by itself (not killed)')
  t.notMatch(stdout, /Server listening/, 'never listened')
  for (const name of ['S3_ENDPOINT', 'S3_ACCESS_KEY_ID', 'JWT_PUBLIC_KEY']) t.match(stderr, name, `stderr names ${name}`)
  t.notOk(stderr.includes(SECRET_MARKER), 'the S3 secret is not in stderr')
  t.notOk(stderr.includes(marker), 'the JWT_PUBLIC_KEY value is not in stderr')
  const lines = stderr.trim().split('\n')
  t.equal(lines.length, 1, `one stderr message (got ${lines.length} lines)`)
  t.match(lines[0], /^r2-signer: Invalid configuration: /, 'the message is the ConfigError, not a crash')
  t.notMatch(stderr, /^\s+at /m, 'no stack trace')
})

t.test('src/server.ts with a good environment listens and answers /healthz', async (t) => {
  const server = startServerProcess({ env: { ...GOOD, LOG_LEVEL: 'info', HOST: '127.0.0.1', PORT: '0' }, killAfterMs: 12_000 })
  t.teardown(() => server.stop('SIGKILL'))

  const address = await server.listening
  t.ok(address, `listening (stderr: ${server.stderr().slice(0, 300)})`)
  if (address === undefined) return
  t.match(address, /^http:\/\/127\.0\.0\.1:\d+$/)

  const res = await fetch(`${address}/healthz`)
  t.equal(res.status, 200)
  t.same(await res.json(), { status: 'ok' })

  const unauthenticated = await fetch(`${address}/v1/download-urls`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"key":"a"}' })
  t.equal(unauthenticated.status, 401, '/v1 still needs a token')
  await unauthenticated.arrayBuffer()

  const { code } = await server.stop()
  t.equal(code, 0, 'SIGTERM shuts down cleanly')
  t.notOk(server.stdout().includes(SECRET_MARKER), 'the S3 secret never reaches the logs')
})

t.test('storage self-test settings', async (t) => {
  const app = await configured(t, GOOD)
  t.same(app.config.storageCheck, { unsafeHeaders: 'refuse', intervalSeconds: 3600, prefix: '.r2-signer-check/' }, 'defaults: refuse, hourly')
  const custom = await configured(t, { ...GOOD, STORAGE_UNSAFE_HEADERS: 'warn', STORAGE_CHECK_INTERVAL_SECONDS: '0', STORAGE_CHECK_PREFIX: 'ops/canaries/' })
  t.same(custom.config.storageCheck, { unsafeHeaders: 'warn', intervalSeconds: 0, prefix: 'ops/canaries/' })
  for (const [name, value] of [
    ['STORAGE_UNSAFE_HEADERS', 'ignore'],
    ['STORAGE_CHECK_INTERVAL_SECONDS', '-1'],
    ['STORAGE_CHECK_INTERVAL_SECONDS', '1.5'],
    ['STORAGE_CHECK_PREFIX', 'no-slash'],
    ['STORAGE_CHECK_PREFIX', '../up/'],
    ['STORAGE_CHECK_PREFIX', '/rooted/'],
    ['STORAGE_CHECK_PREFIX', 'a//b/']
  ] as const) {
    t.test(`${name}=${value} → error`, async (t) => { await rejects(t, { ...GOOD, [name]: value }, [name]) })
  }
})
