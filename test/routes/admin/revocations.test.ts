/**
 * The admin API on its own: absent without ADMIN_TOKEN, the token compared exactly (and a file
 * for it), bodies validated, and 503 REVOCATION_UNAVAILABLE when Redis cannot store a change.
 * (Its effect across instances: test/shared-state/instances.test.ts.)
 */
import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { answerOf, build, configure, expectProblem, type TestApp } from '../../helpers/app.js'
import { bearer, tokenFor } from '../../helpers/tokens.js'
import { privateRedis, testKeyPrefix } from '../../helpers/redis.js'

const ADMIN_TOKEN = 'admin-route-test-token-0123456789abcdef'

function admin (app: TestApp, method: string, path: string, body?: unknown, token = ADMIN_TOKEN): Promise<Response> {
  return fetch(app.url + '/admin/v1' + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
  })
}

t.test('without ADMIN_TOKEN the admin routes do not exist', async (t) => {
  const app = await build(t)
  await expectProblem(t, await admin(app, 'GET', '/revocations'), 404, 'NOT_FOUND')
  await expectProblem(t, await admin(app, 'POST', '/revocations', { subject: 'x' }), 404, 'NOT_FOUND')
})

t.test('the admin token: required, compared exactly, never a user token', async (t) => {
  const app = await build(t, { env: { ADMIN_TOKEN } })
  const none = await answerOf(await fetch(app.url + '/admin/v1/revocations'))
  t.equal(none.status, 401)
  t.equal(none.body.code, 'UNAUTHORIZED')
  t.equal(none.headers.get('www-authenticate'), 'Bearer realm="r2-signer-admin"')
  await expectProblem(t, await admin(app, 'GET', '/revocations', undefined, ADMIN_TOKEN + 'x'), 401, 'UNAUTHORIZED', 'longer')
  await expectProblem(t, await admin(app, 'GET', '/revocations', undefined, ADMIN_TOKEN.slice(0, -1)), 401, 'UNAUTHORIZED', 'shorter')
  await expectProblem(t, await admin(app, 'GET', '/revocations', undefined, tokenFor('alice')), 401, 'UNAUTHORIZED', 'a user token')
  const ok = await admin(app, 'GET', '/revocations')
  t.equal(ok.status, 200)
  t.same(await ok.json(), { revocations: [] })
  t.notMatch(app.logText(), ADMIN_TOKEN, 'the admin token is never logged')
})

t.test('ADMIN_TOKEN: at least 32 characters, and from a file', async (t) => {
  const base = { S3_ENDPOINT: 'http://127.0.0.1:9', S3_ACCESS_KEY_ID: 'a', S3_SECRET_ACCESS_KEY: 'b', S3_BUCKET: 'media', JWT_SECRET: 'x'.repeat(32), PERMISSIONS_URL: 'http://127.0.0.1:9/check', LOG_LEVEL: 'silent' }
  const short = await configure(t, { ...base, ADMIN_TOKEN: 'too-short' })
  t.match(String(short.error), /ADMIN_TOKEN/, 'a short token is a configuration error')
  t.notMatch(String(short.error), /too-short/, 'without echoing it')
  const dir = mkdtempSync(join(tmpdir(), 'admin-token-'))
  writeFileSync(join(dir, 'token'), ADMIN_TOKEN + '\n')
  const fromFile = await configure(t, { ...base, ADMIN_TOKEN_FILE: join(dir, 'token') })
  t.equal(fromFile.error, undefined)
  t.equal(fromFile.app?.config.admin.token, ADMIN_TOKEN, 'read from ADMIN_TOKEN_FILE, trailing newline dropped')
})

t.test('bodies and ids are validated', async (t) => {
  const app = await build(t, { env: { ADMIN_TOKEN } })
  for (const [label, body] of [
    ['empty', {}],
    ['both a subject and a prefix', { subject: 'a', keyPrefix: 'b/' }],
    ['an unknown field', { subject: 'a', reason: 'x' }],
    ['an empty subject', { subject: '' }],
    ['a control character', { subject: 'a\nb' }],
    ['expiresIn 0', { subject: 'a', expiresIn: 0 }],
    ['a bucket without a prefix', { subject: 'a', bucket: 'media' }]
  ] as const) {
    await expectProblem(t, await admin(app, 'POST', '/revocations', body), 400, 'INVALID_REQUEST', label)
  }
  await expectProblem(t, await admin(app, 'POST', '/revocations', 'subject=a'), 400, 'INVALID_REQUEST', 'not JSON')
  await expectProblem(t, await admin(app, 'DELETE', '/revocations/not-a-uuid'), 400, 'INVALID_REQUEST', 'an id that is not a UUID')
  await expectProblem(t, await admin(app, 'DELETE', '/revocations/0b8f3c1e-5a63-4f4e-9d49-2f4a1f0c2b7d'), 404, 'REVOCATION_NOT_FOUND', 'an unknown id')

  const created = await admin(app, 'POST', '/revocations', { keyPrefix: 'users/x/', expiresIn: 60 })
  t.equal(created.status, 201)
  const revocation = await created.json() as { expiresAt: string, createdAt: string }
  t.equal(Date.parse(revocation.expiresAt) - Date.parse(revocation.createdAt), 60_000, 'expiresAt = createdAt + expiresIn')
  t.equal((await app.post('/v1/download-urls', { key: 'users/x/a' }, bearer(tokenFor('alice')))).status, 403, 'in every bucket without `bucket`')
})

t.test('Redis down: changes and listings answer 503 REVOCATION_UNAVAILABLE, never 500', async (t) => {
  const redis = await privateRedis(t)
  const app = await build(t, { env: { ADMIN_TOKEN, REDIS_URL: redis.url, REDIS_KEY_PREFIX: testKeyPrefix('admin') } })
  t.equal((await admin(app, 'POST', '/revocations', { subject: 'kim' })).status, 201)
  await redis.stop()
  await expectProblem(t, await admin(app, 'POST', '/revocations', { subject: 'lee' }), 503, 'REVOCATION_UNAVAILABLE', 'create')
  await expectProblem(t, await admin(app, 'GET', '/revocations'), 503, 'REVOCATION_UNAVAILABLE', 'list')
  await expectProblem(t, await admin(app, 'DELETE', '/revocations/0b8f3c1e-5a63-4f4e-9d49-2f4a1f0c2b7d'), 503, 'REVOCATION_UNAVAILABLE', 'delete')
})
