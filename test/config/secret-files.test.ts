/**
 * Secrets from files (Docker/Kubernetes secrets): NAME_FILE for every variable in
 * SECRET_ENV_NAMES. The file's contents become NAME (one trailing newline removed);
 * NAME and NAME_FILE together, an unreadable or empty file are configuration errors,
 * reported in the same single ConfigError as everything else, never echoing contents.
 * Then the production entry point reading its secrets from files.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { ConfigError, type RawEnv } from '../../src/config/config.js'
import { SECRET_ENV_NAMES } from '../../src/config/env-schema.js'
import { readSecretFile, resolveSecretFiles } from '../../src/config/secret-files.js'
import { configure } from '../helpers/app.js'
import { startServerProcess } from '../helpers/server-process.js'
import { keyPair, TEST_JWT_SECRET } from '../helpers/tokens.js'

const S3_SECRET = 'S3SECRET-from-a-file-5c2e9d'
const JWT_SECRET = 'jwt-secret-from-a-file-0123456789abcdef-MARK'

const BASE: RawEnv = {
  LOG_LEVEL: 'silent',
  S3_ENDPOINT: 'http://127.0.0.1:9000',
  S3_BUCKET: 'media',
  PERMISSIONS_URL: 'http://127.0.0.1:9/check'
}

/** A temp dir of secret files, removed at the end of the test. */
function secretsDir (t: Test, files: Record<string, string>): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'r2-signer-secrets-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return Object.fromEntries(Object.entries(files).map(([name, contents]) => {
    const path = join(dir, name)
    writeFileSync(path, contents, { mode: 0o600 })
    return [name, path]
  }))
}

async function rejects (t: Test, env: RawEnv, variables: string[], secrets: string[] = []): Promise<ConfigError | undefined> {
  const { error } = await configure(t, env)
  t.ok(error instanceof ConfigError, `a ConfigError (got ${String(error)})`)
  if (!(error instanceof ConfigError)) return undefined
  t.same([...error.variables].sort(), [...variables].sort(), `names exactly ${variables.join(', ')}`)
  for (const secret of secrets) t.notOk(error.message.includes(secret), 'no secret value in the message')
  t.equal(error.message.split('\n').length, 1, 'one line')
  return error
}

t.test('the secret variables are listed once', async (t) => {
  t.same([...SECRET_ENV_NAMES].sort(), ['ADMIN_TOKEN', 'JWT_PUBLIC_KEY', 'JWT_SECRET', 'METRICS_TOKEN', 'REDIS_URL', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'])
})

t.test('every secret variable can come from NAME_FILE, one trailing newline removed', async (t) => {
  const files = secretsDir(t, {
    key_id: 'AKIDFROMFILE\n',
    secret: `${S3_SECRET}\r\n`,
    jwt: `${JWT_SECRET}\n`,
    metrics: 'metrics-token-from-file-42\n\n',
    redis: 'rediss://default:redis-password-from-file@redis.example:6380/0\n'
  })
  const { app, error } = await configure(t, {
    ...BASE,
    S3_ACCESS_KEY_ID_FILE: files.key_id,
    S3_SECRET_ACCESS_KEY_FILE: files.secret,
    JWT_SECRET_FILE: files.jwt,
    METRICS_TOKEN_FILE: files.metrics,
    REDIS_URL_FILE: files.redis
  })
  t.equal(error, undefined, 'configures')
  t.equal(app?.config.redis?.url, 'rediss://default:redis-password-from-file@redis.example:6380/0')
  t.equal(app?.config.storage.accessKeyId, 'AKIDFROMFILE')
  t.equal(app?.config.storage.secretAccessKey, S3_SECRET, 'CRLF removed too')
  t.match(app?.config.jwt, { kind: 'secret', secret: JWT_SECRET })
  t.equal(app?.config.metrics.token, 'metrics-token-from-file-42\n', 'only one trailing newline is removed')
})

t.test('JWT_PUBLIC_KEY_FILE holds a PEM file as written', async (t) => {
  const { publicPem } = keyPair('ed25519')
  const files = secretsDir(t, { 'jwt.pem': publicPem })
  const { app } = await configure(t, { ...BASE, S3_ACCESS_KEY_ID: 'AKID', S3_SECRET_ACCESS_KEY: S3_SECRET, JWT_PUBLIC_KEY_FILE: files['jwt.pem'] })
  t.match(app?.config.jwt, { kind: 'public-key', algorithms: ['EdDSA'] })
})

t.test('NAME and NAME_FILE together: an error naming NAME_FILE, neither value echoed', async (t) => {
  const files = secretsDir(t, { secret: S3_SECRET })
  const error = await rejects(t, {
    ...BASE, S3_ACCESS_KEY_ID: 'AKID', S3_SECRET_ACCESS_KEY: 'inline-secret-MARK', S3_SECRET_ACCESS_KEY_FILE: files.secret, JWT_SECRET: TEST_JWT_SECRET
  }, ['S3_SECRET_ACCESS_KEY_FILE'], [S3_SECRET, 'inline-secret-MARK', TEST_JWT_SECRET])
  t.match(error?.message, /S3_SECRET_ACCESS_KEY_FILE must not be combined with S3_SECRET_ACCESS_KEY/)
})

t.test('an unreadable file, an empty file and other problems: one error naming them all', async (t) => {
  const files = secretsDir(t, { empty: '\n' })
  const dir = mkdtempSync(join(tmpdir(), 'r2-signer-secrets-dir-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'sub'))
  const error = await rejects(t, {
    ...BASE,
    PORT: 'eighty',
    S3_ACCESS_KEY_ID_FILE: join(dir, 'does-not-exist'),
    S3_SECRET_ACCESS_KEY_FILE: files.empty,
    JWT_SECRET_FILE: join(dir, 'sub')
  }, ['PORT', 'S3_ACCESS_KEY_ID_FILE', 'S3_SECRET_ACCESS_KEY_FILE', 'JWT_SECRET_FILE'])
  t.match(error?.message, /S3_ACCESS_KEY_ID_FILE names a file that cannot be read \(ENOENT\)/)
  t.match(error?.message, /S3_SECRET_ACCESS_KEY_FILE names an empty file/)
  t.match(error?.message, /JWT_SECRET_FILE names a file that cannot be read \(EISDIR\)/)
  t.notMatch(error?.message, /S3_ACCESS_KEY_ID is required/, 'the variable itself is not reported missing as well')
})

t.test('an empty NAME_FILE counts as unset', async (t) => {
  const { app } = await configure(t, { ...BASE, S3_ACCESS_KEY_ID: 'AKID', S3_ACCESS_KEY_ID_FILE: '', S3_SECRET_ACCESS_KEY: S3_SECRET, JWT_SECRET: TEST_JWT_SECRET })
  t.equal(app?.config.storage.accessKeyId, 'AKID')
})

t.test('a file with an invalid value fails validation like the variable would, without echoing it', async (t) => {
  const files = secretsDir(t, { jwt: 'too-short-MARK\n' })
  await rejects(t, { ...BASE, S3_ACCESS_KEY_ID: 'AKID', S3_SECRET_ACCESS_KEY: S3_SECRET, JWT_SECRET_FILE: files.jwt }, ['JWT_SECRET'], ['too-short-MARK', S3_SECRET])
})

t.test('variables that are not secrets have no _FILE form', async (t) => {
  const result = resolveSecretFiles({ PERMISSIONS_URL_FILE: '/nonexistent', S3_BUCKET_FILE: '/nonexistent' }, () => { throw new Error('read') })
  t.same(result.problems, [])
  t.same(result.env, { PERMISSIONS_URL_FILE: '/nonexistent', S3_BUCKET_FILE: '/nonexistent' }, 'left alone (and ignored by validation)')
})

t.test('a huge or endless file is refused, not read forever', async (t) => {
  t.throws(() => readSecretFile('/dev/zero'), /too large/)
  const files = secretsDir(t, { big: 'x'.repeat(64 * 1024 + 1) })
  const error = await rejects(t, { ...BASE, S3_ACCESS_KEY_ID: 'AKID', S3_SECRET_ACCESS_KEY_FILE: files.big, JWT_SECRET: TEST_JWT_SECRET }, ['S3_SECRET_ACCESS_KEY_FILE'])
  t.match(error?.message, /larger than 64 KiB/)
})

t.test('src/server.ts reads its secrets from files', async (t) => {
  const files = secretsDir(t, { key_id: 'AKID\n', secret: `${S3_SECRET}\n`, jwt: `${JWT_SECRET}\n` })
  const server = startServerProcess({
    env: {
      ...BASE,
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: '0',
      S3_ACCESS_KEY_ID_FILE: files.key_id,
      S3_SECRET_ACCESS_KEY_FILE: files.secret,
      JWT_SECRET_FILE: files.jwt
    },
    killAfterMs: 15_000
  })
  t.teardown(() => server.stop('SIGKILL'))
  const address = await server.listening
  t.ok(address, `listening (stderr: ${server.stderr().slice(0, 300)})`)
  if (address === undefined) return
  t.equal((await fetch(`${address}/healthz`)).status, 200)
  t.equal((await server.stop()).code, 0)
  const stdout = server.stdout()
  const stderr = server.stderr()
  t.notOk(stdout.includes(S3_SECRET) || stderr.includes(S3_SECRET), 'the S3 secret is not in the output')
  t.notOk(stdout.includes(JWT_SECRET) || stderr.includes(JWT_SECRET), 'the JWT secret is not in the output')
})

t.test('src/server.ts with a missing secret file exits 1 with the one message', async (t) => {
  const server = startServerProcess({
    env: { ...BASE, S3_ACCESS_KEY_ID: 'AKID', S3_SECRET_ACCESS_KEY_FILE: '/run/secrets/nope', JWT_SECRET: TEST_JWT_SECRET },
    killAfterMs: 15_000
  })
  t.equal((await server.exited).code, 1)
  const stdout = server.stdout()
  const stderr = server.stderr()
  t.notMatch(stdout, /Server listening/, 'never listened')
  t.match(stderr, /^r2-signer: Invalid configuration: S3_SECRET_ACCESS_KEY_FILE names a file that cannot be read \(ENOENT\)\n$/)
  t.notOk(stderr.includes(TEST_JWT_SECRET))
})
