/**
 * GET /readyz against the real Ceph RGW: ready with good credentials; not ready (503,
 * naming the failing check, no reason or secret in the answer) with wrong credentials,
 * a missing bucket, the permission service down or failing, and a skewed clock (an
 * injected clock, not the system's). Results are cached and concurrent probes share
 * one check.
 */
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { createReadinessChecker, type ReadinessOptions } from '../../src/readiness/checker.js'
import { buildWithStorage } from '../helpers/app.js'
import { createTestBucket, testStorage } from '../helpers/storage.js'
import { json, startPermissionStub, type StubHandler } from '../helpers/permission-stub.js'
import { TEST_JWT_SECRET } from '../helpers/tokens.js'

interface ReadyzAnswer { status: string, checks: Record<string, string>, storageSafety?: Record<string, unknown> }

async function readyz (base: string): Promise<{ status: number, body: ReadyzAnswer, headers: Headers }> {
  const response = await fetch(`${base}/readyz`)
  return { status: response.status, body: await response.json() as ReadyzAnswer, headers: response.headers }
}

/** An app on the test storage whose clock is `now` (buildApp directly: the helpers use the real clock). */
async function appWithClock (t: Test, now: () => number, permissions?: StubHandler) {
  const storage = testStorage()
  const stub = await startPermissionStub(permissions)
  const lines: string[] = []
  const app = await buildApp({
    env: {
      LOG_LEVEL: 'info',
      S3_ENDPOINT: storage.endpoint,
      S3_REGION: storage.region,
      S3_ACCESS_KEY_ID: storage.accessKeyId,
      S3_SECRET_ACCESS_KEY: storage.secretAccessKey,
      S3_BUCKET: await createTestBucket('readyz'),
      JWT_SECRET: TEST_JWT_SECRET,
      PERMISSIONS_URL: stub.url
    },
    logStream: new Writable({ write (chunk: Buffer, _e, done) { lines.push(chunk.toString()); done() } }),
    now
  })
  t.teardown(async () => {
    await app.close()
    await stub.close()
  })
  return { url: await app.listen({ port: 0, host: '127.0.0.1' }), logs: () => lines.join('') }
}

t.test('ready: storage answers with our credentials, the permission service answers, the clocks agree', async (t) => {
  const app = await buildWithStorage(t)
  const { status, body, headers } = await readyz(app.url)
  t.equal(status, 200)
  t.same({ status: body.status, checks: body.checks }, { status: 'ready', checks: { storage: 'ok', permissions: 'ok', clock: 'ok' } })
  t.match(body.storageSafety, { verdict: /^(pending|safe)$/, mode: 'refuse' }, 'the storage self-test is reported beside the checks')
  t.equal(headers.get('cache-control'), 'no-store')
  t.match(app.logs.find((entry) => entry.msg === 'ready'), { level: 30, readiness: { status: 'ready' } }, 'the change to ready is logged')
})

t.test('not ready: wrong storage credentials', async (t) => {
  const wrongSecret = `wrong-${randomBytes(8).toString('hex')}`
  const app = await buildWithStorage(t, { env: { S3_SECRET_ACCESS_KEY: wrongSecret } })
  const { status, body } = await readyz(app.url)
  t.equal(status, 503)
  t.same({ status: body.status, checks: body.checks }, { status: 'not_ready', checks: { storage: 'fail', permissions: 'ok', clock: 'ok' } }, 'storage named; the clock still checked (403 carries a Date)')
  const line = app.logs.find((entry) => entry.msg === 'not ready')
  t.match(line, { level: 40, reasons: { storage: /HTTP 403/ } }, 'the reason is logged')
  t.notOk(app.logText().includes(wrongSecret), 'the secret is not logged')
})

t.test('not ready: the bucket does not exist', async (t) => {
  const app = await buildWithStorage(t, { env: { S3_BUCKET: `missing-${randomBytes(6).toString('hex')}` } })
  const { status, body } = await readyz(app.url)
  t.equal(status, 503)
  t.same(body.checks, { storage: 'fail', permissions: 'ok', clock: 'ok' })
  t.match(app.logs.find((entry) => entry.msg === 'not ready'), { reasons: { storage: /HTTP 404: no such bucket/ } })
})

t.test('not ready: storage unreachable (and the clock cannot be checked)', async (t) => {
  const app = await buildWithStorage(t, { env: { S3_ENDPOINT: 'http://127.0.0.1:1' } })
  const { status, body } = await readyz(app.url)
  t.equal(status, 503)
  t.same(body.checks, { storage: 'fail', permissions: 'ok', clock: 'unknown' })
})

t.test('not ready: the permission service is down', async (t) => {
  const app = await buildWithStorage(t)
  await app.permissions.close()
  const { status, body } = await readyz(app.url)
  t.equal(status, 503)
  t.same({ status: body.status, checks: body.checks }, { status: 'not_ready', checks: { storage: 'ok', permissions: 'fail', clock: 'ok' } })
  t.match(app.logs.find((entry) => entry.msg === 'not ready'), { reasons: { permissions: /connection error \(ECONNREFUSED\)/ } })
})

t.test('the permission probe: any answer below 500 is reachable, 5xx is not', async (t) => {
  for (const [answer, expected] of [[200, 'ok'], [401, 'ok'], [404, 'ok'], [405, 'ok'], [500, 'fail'], [502, 'fail'], [503, 'fail']] as const) {
    const app = await buildWithStorage(t, { permissions: (_check, res) => json(res, answer, {}) })
    const { body } = await readyz(app.url)
    t.equal(body.checks.permissions, expected, `HTTP ${answer} → ${expected}`)
  }
})

t.test('the probe is a HEAD without the caller\'s token', async (t) => {
  const methods: string[] = []
  const server = createServer((req, res) => {
    methods.push(`${req.method ?? ''} ${req.url ?? ''} ${req.headers.authorization ?? '-'}`)
    res.writeHead(405).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const app = await buildWithStorage(t, { env: { PERMISSIONS_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/permissions/check?v=1` } })
  const { status } = await readyz(app.url)
  t.equal(status, 200)
  t.same(methods, ['HEAD /permissions/check?v=1 -'])
})

t.test('not ready: the local clock is more than 60 s off storage\'s', async (t) => {
  for (const [name, offsetMs, expected] of [
    ['2 minutes ahead', 120_000, 503],
    ['2 minutes behind', -120_000, 503],
    ['an hour ahead', 3_600_000, 503],
    ['30 s ahead', 30_000, 200],
    ['30 s behind', -30_000, 200]
  ] as const) {
    const app = await appWithClock(t, () => Date.now() + offsetMs)
    const { status, body } = await readyz(app.url)
    t.equal(status, expected, `${name} → ${expected}`)
    t.same(body.checks, { storage: 'ok', permissions: 'ok', clock: expected === 200 ? 'ok' : 'fail' })
    if (expected === 503) t.match(app.logs(), new RegExp(`local clock ${offsetMs > 0 ? 'ahead of' : 'behind'} storage by \\d+ s`), 'the skew is logged')
  }
})

t.test('results are cached for a few seconds; concurrent probes share one check', async (t) => {
  const app = await buildWithStorage(t)
  const probes = () => app.permissions.received.length
  const answers = await Promise.all(Array.from({ length: 20 }, () => readyz(app.url)))
  t.ok(answers.every((answer) => answer.status === 200), '20 concurrent probes all answered 200')
  t.equal(probes(), 1, 'one permission probe for 20 concurrent /readyz')
  await readyz(app.url)
  await readyz(app.url)
  t.equal(probes(), 1, 'later probes within the window are served from the cache')
})

/** The checker alone, against the real storage, with short windows. */
function checker (overrides: Partial<ReadinessOptions> & { permissionsUrl: string, bucket: string }) {
  const storage = testStorage()
  const created = createReadinessChecker({
    storage: {
      endpoint: storage.endpoint,
      region: storage.region,
      accessKeyId: storage.accessKeyId,
      secretAccessKey: storage.secretAccessKey,
      forcePathStyle: true,
      timeoutMs: 2000,
      defaultBucket: overrides.bucket,
      allowedBuckets: new Set([overrides.bucket])
    },
    timeoutMs: 2000,
    cacheMs: 5000,
    maxClockSkewMs: 60_000,
    now: Date.now,
    ...overrides
  })
  t.teardown(() => created.close())
  return created
}

t.test('checker: the cache expires, and a failure is not cached forever', async (t) => {
  let answer = 503
  const stub = await startPermissionStub((_check, res) => json(res, answer, {}))
  t.teardown(stub.close)
  const check = checker({ permissionsUrl: stub.url, bucket: await createTestBucket('readyz'), cacheMs: 150 })
  t.equal((await check.check()).report.checks.permissions, 'fail')
  answer = 200
  t.equal((await check.check()).report.checks.permissions, 'fail', 'still cached')
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same((await check.check()).report, { status: 'ready', checks: { storage: 'ok', permissions: 'ok', clock: 'ok' } }, 'asked again after the window')
  t.equal(stub.received.length, 2)
})

t.test('checker: a permission service that never answers fails within the probe timeout', async (t) => {
  const stub = await startPermissionStub(() => { /* never answers */ })
  t.teardown(stub.close)
  const check = checker({ permissionsUrl: stub.url, bucket: await createTestBucket('readyz'), timeoutMs: 300 })
  const started = performance.now()
  const result = await check.check()
  const elapsed = performance.now() - started
  t.equal(result.report.checks.permissions, 'fail')
  t.equal(result.reasons.permissions, 'timeout')
  t.ok(elapsed < 1500, `bounded (${Math.round(elapsed)} ms)`)
})

t.test('checker: the skew is measured against the injected clock', async (t) => {
  const stub = await startPermissionStub()
  t.teardown(stub.close)
  const bucket = await createTestBucket('readyz')
  const ahead = await checker({ permissionsUrl: stub.url, bucket, now: () => Date.now() + 61_000 }).check()
  t.same(ahead.report.checks, { storage: 'ok', permissions: 'ok', clock: 'fail' })
  const within = await checker({ permissionsUrl: stub.url, bucket, now: () => Date.now() + 55_000 }).check()
  t.same(within.report.checks, { storage: 'ok', permissions: 'ok', clock: 'ok' })
})
