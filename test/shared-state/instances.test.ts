/**
 * Three r2-signer instances on one real Redis, over real HTTP: the URL limit is shared (the
 * request after the limit is 429 on any instance, and counts reset with the window), a
 * revocation made through A refuses on B and C within a second and is lifted the same way, and a
 * permission decision asked on A is reused on B and C (the permission service sees one call).
 */
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { answerOf, build, expectProblem, OFFLINE_STORAGE_ENV, type TestApp } from '../helpers/app.js'
import { bearer, tokenFor } from '../helpers/tokens.js'
import { redisUrl, testKeyPrefix } from '../helpers/redis.js'
import { startPermissionStub, json } from '../helpers/permission-stub.js'
import { eventually } from '../helpers/shared-state.js'
import { decisionKey } from '../../src/permissions/decision-cache.js'
import { createUploadTokens } from '../../src/uploads/upload-token.js'

const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef-0123456789'

async function threeInstances (t: Test, env: Record<string, string>, options: Parameters<typeof build>[1] = {}): Promise<TestApp[]> {
  const shared = { REDIS_URL: redisUrl(), REDIS_KEY_PREFIX: testKeyPrefix('instances'), ADMIN_TOKEN, ...env }
  const apps = await Promise.all([0, 1, 2].map(() => build(t, { ...options, env: shared })))
  // Each instance has its first revocation sync before it answers (src/shared-state/plugin.ts).
  for (const app of apps) t.equal(app.app.sharedState.revocations.isAvailable(), true, 'revocations in sync at startup')
  return apps
}

function download (app: TestApp, sub: string, key = 'users/shared/file.bin'): Promise<Response> {
  return app.post('/v1/download-urls', { key }, bearer(tokenFor(sub)))
}

function admin (app: TestApp, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(app.url + '/admin/v1' + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
}

/** The uploadToken POST /v1/multipart-uploads would have answered for upload-1 of big.bin: `parts` parts of 5 MiB. */
function uploadToken (parts: number): string {
  const partSize = 5 * 1024 * 1024
  return createUploadTokens(OFFLINE_STORAGE_ENV.S3_SECRET_ACCESS_KEY).issue({
    uploadId: 'upload-1',
    bucket: 'media',
    key: 'big.bin',
    size: parts * partSize,
    partSize,
    contentType: 'application/octet-stream',
    policy: { maxBytes: parts * partSize, contentTypes: [], writeOnce: false }
  })
}

/** Waits for the start of a fresh rate-limit window (windows are aligned to the wall clock). */
async function freshWindow (windowMs: number): Promise<void> {
  await sleep(windowMs - (Date.now() % windowMs) + 30)
}

t.test('the URL limit is shared by every instance and resets with the window', async (t) => {
  const windowMs = 4000
  const [a, b, c] = await threeInstances(t, { RATE_LIMIT_URLS_PER_MINUTE: '10' }, { rateLimitWindowMs: windowMs }) as [TestApp, TestApp, TestApp]
  await freshWindow(windowMs)
  // 8 part URLs on A (one unit each), one download on B and one on C: the 10 units of the window.
  const parts = await a.post('/v1/multipart-uploads/upload-1/part-urls', { key: 'big.bin', partNumbers: [1, 2, 3, 4, 5, 6, 7, 8], uploadToken: uploadToken(11) }, bearer(tokenFor('alice')))
  t.equal(parts.status, 200, '8 part URLs on A')
  t.equal((await download(b, 'alice')).status, 200, 'the 9th URL on B')
  t.equal((await download(c, 'alice')).status, 200, 'the 10th URL on C')
  for (const [name, app] of [['A', a], ['B', b], ['C', c]] as const) {
    const answer = await answerOf(await download(app, 'alice'))
    t.equal(answer.status, 429, `the request after the limit is 429 on ${name}`)
    t.equal(answer.body.code, 'RATE_LIMITED')
    t.equal(answer.headers.get('content-type'), 'application/problem+json; charset=utf-8')
    t.match(answer.headers.get('retry-after'), /^[1-4]$/, 'Retry-After: the seconds left in the window')
    t.equal(answer.headers.get('ratelimit-limit'), '10')
    t.equal(answer.headers.get('ratelimit-remaining'), '0')
    t.equal(answer.headers.get('ratelimit-reset'), answer.headers.get('retry-after'))
  }
  t.equal((await download(b, 'bob')).status, 200, 'another subject has its own budget')
  const tooMany = await a.post('/v1/multipart-uploads/upload-1/part-urls', { key: 'big.bin', partNumbers: Array.from({ length: 11 }, (_, i) => i + 1), uploadToken: uploadToken(11) }, bearer(tokenFor('carol')))
  const body = await expectProblem(t, tooMany, 429, 'RATE_LIMITED', 'more part URLs than the limit in one request')
  t.match(body.detail, /asks for 11 URLs; at most 10/)

  await freshWindow(windowMs)
  t.equal((await download(c, 'alice')).status, 200, 'the next window: alice is served again')
  t.equal((await download(a, 'alice')).status, 200, 'on every instance')
  const metrics = await (await fetch(a.url + '/metrics')).text()
  t.match(metrics, /r2signer_rate_limited_total\{limit="urls"\} [1-9]/, '429s counted')
})

t.test('a revocation made through A refuses on B and C within a second, and is lifted the same way', async (t) => {
  const [a, b, c] = await threeInstances(t, {}) as [TestApp, TestApp, TestApp]
  for (const app of [a, b, c]) t.equal((await download(app, 'mallory')).status, 200, 'mallory is served before')

  const created = await admin(a, 'POST', '/revocations', { subject: 'mallory' })
  t.equal(created.status, 201)
  const revocation = await created.json() as { id: string, subject: string, createdAt: string }
  t.match(revocation, { id: /^[0-9a-f-]{36}$/, subject: 'mallory', createdAt: String })
  await expectProblem(t, await download(a, 'mallory'), 403, 'REVOKED', 'on A at once')
  for (const [name, app] of [['B', b], ['C', c]] as const) {
    const took = await eventually(async () => (await download(app, 'mallory')).status === 403, 1000)
    t.ok(took < 1000, `refused on ${name} within a second (${took} ms)`)
    await expectProblem(t, await download(app, 'mallory'), 403, 'REVOKED', `on ${name}`)
    t.equal((await download(app, 'alice')).status, 200, `others are still served on ${name}`)
  }

  // A prefix, in one bucket.
  const prefix = await admin(b, 'POST', '/revocations', { keyPrefix: 'users/secret/', bucket: 'media', expiresIn: 600 })
  t.equal(prefix.status, 201)
  const prefixId = (await prefix.json() as { id: string }).id
  await eventually(async () => (await download(c, 'alice', 'users/secret/a.txt')).status === 403, 1000)
  await expectProblem(t, await download(a, 'alice', 'users/secret/a.txt'), 403, 'REVOKED', 'a key under the prefix')
  t.equal((await download(a, 'alice', 'users/public/a.txt')).status, 200, 'a key outside it')

  const listed = await admin(c, 'GET', '/revocations')
  t.equal(listed.status, 200)
  const list = await listed.json() as { revocations: Array<{ id: string }> }
  t.same(list.revocations.map((r) => r.id), [revocation.id, prefixId], 'listed on C, oldest first')

  t.equal((await admin(a, 'DELETE', `/revocations/${revocation.id}`)).status, 204, 'lifted through A')
  for (const [name, app] of [['A', a], ['B', b], ['C', c]] as const) {
    const took = await eventually(async () => (await download(app, 'mallory')).status === 200, 1000)
    t.ok(took < 1000, `served again on ${name} within a second (${took} ms)`)
  }
  await expectProblem(t, await admin(b, 'DELETE', `/revocations/${revocation.id}`), 404, 'REVOCATION_NOT_FOUND', 'lifting twice')
  t.equal((await admin(c, 'DELETE', `/revocations/${prefixId}`)).status, 204)
  t.same((await (await admin(a, 'GET', '/revocations')).json() as { revocations: unknown[] }).revocations, [], 'none left')
})

t.test('a decision asked on A is reused on B and C; a revocation drops the cached ones everywhere', async (t) => {
  const stub = await startPermissionStub((_check, res) => json(res, 200, { allowed: true }, { 'cache-control': 'max-age=60' }))
  t.teardown(() => stub.close())
  const [a, b, c] = await threeInstances(t, {}, { permissionStub: stub }) as [TestApp, TestApp, TestApp]
  const token = tokenFor('alice')
  const ask = (app: TestApp) => app.post('/v1/download-urls', { key: 'users/alice/shared.bin' }, bearer(token))
  const key = decisionKey(`Bearer ${token}`, { subject: 'alice', action: 'read', bucket: 'media', key: 'users/alice/shared.bin' })
  const inRedis = async () => (await a.app.sharedState.decisions?.get(key)) !== undefined

  t.equal((await ask(a)).status, 200)
  t.equal(stub.received.length, 1, 'A asked the permission service')
  // A stores the decision in Redis without making the request wait for it.
  await eventually(inRedis, 1000)
  t.equal((await ask(b)).status, 200)
  t.equal((await ask(c)).status, 200)
  t.equal((await ask(c)).status, 200)
  t.equal(stub.received.length, 1, 'B and C reused it: the permission service saw one call')
  const metrics = await (await fetch(b.url + '/metrics')).text()
  t.match(metrics, /r2signer_permission_checks_total\{outcome="allowed",source="peer"\} 1/, "B counts it with source 'peer'")
  t.match(b.logs.find((line) => line.route === '/v1/download-urls'), { permissionSource: 'peer' }, 'and logs it')

  // A revocation (of anyone) drops every decision stored before it, locally and in Redis.
  const created = await admin(a, 'POST', '/revocations', { subject: 'mallory' })
  const { id } = await created.json() as { id: string }
  await eventually(() => c.app.sharedState.revocations.check('mallory', 'media', 'k').status === 'revoked', 1000)
  t.equal((await admin(a, 'DELETE', `/revocations/${id}`)).status, 204)
  t.equal((await ask(c)).status, 200)
  t.equal(stub.received.length, 2, 'asked again after the revocation: no decision from before it reused on C')
  await eventually(inRedis, 1000)
  t.equal((await ask(a)).status, 200)
  t.equal((await ask(b)).status, 200)
  t.equal(stub.received.length, 2, 'the new decision is shared again')
})
