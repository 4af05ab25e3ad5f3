/**
 * The storage self-test and the write gate, on real Ceph RGW 16: raw, it honours x-amz-* headers an
 * upload URL did not sign (found unsafe: writes 503 STORAGE_UNSAFE by default, allowed with `warn`,
 * reads always work); behind the header-enforcing proxy (test/helpers/header-proxy.ts) it is found
 * safe and writes work. And the attack that makes the gate necessary, on both.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3'
import t, { type Test } from 'tap'
import { createPresigner } from '../../src/signing/presigner.js'
import { runStorageSelfTest, type StorageSelfTestReport } from '../../src/storage/self-test.js'
import { headerProxy } from '../helpers/header-proxy.js'
import { assertProblem, build, buildWithStorage, call, multipartApi, type TestApp } from '../helpers/app.js'
import { json, type StubHandler } from '../helpers/permission-stub.js'
import { closedPort } from '../helpers/ports.js'
import { createTestBucket, s3Client, testStorage } from '../helpers/storage.js'

const PREFIX = '.r2-signer-check/'
const s3 = s3Client()
t.teardown(() => s3.destroy())

/** alice may write under users/alice/ and read there; nothing else. */
const aliceOnly: StubHandler = (check, res) => {
  const key = (check.body as { key?: string } | undefined)?.key ?? ''
  json(res, 200, { allowed: key.startsWith('users/alice/') })
}

async function settled (app: TestApp): Promise<StorageSelfTestReport> {
  return app.app.storageSafety.report() ?? await app.app.storageSafety.check()
}

async function canaries (bucket: string): Promise<string[]> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: PREFIX }))
  return (listed.Contents ?? []).map((object) => object.Key as string)
}

function outcomes (report: StorageSelfTestReport): Record<string, string> {
  return Object.fromEntries(report.checks.map((check) => [check.name, check.outcome]))
}

async function metricsText (app: TestApp): Promise<string> {
  return app.app.metrics.registry.metrics()
}

t.test('the self-test on raw Ceph: unsigned x-amz-copy-source, x-amz-acl and x-amz-meta-* are honoured; the rest holds', async (t) => {
  const storage = testStorage()
  const bucket = await createTestBucket('selftest-raw')
  const connection = { ...storage, forcePathStyle: true }
  const report = await runStorageSelfTest({ presigner: createPresigner(connection), storage: connection, bucket, prefix: PREFIX, timeoutMs: 5000 })
  t.equal(report.verdict, 'unsafe')
  t.same(outcomes(report), {
    'unsigned-copy-source': 'failed',
    'unsigned-acl': 'failed',
    'unsigned-meta': 'failed',
    'content-length-mismatch': 'ok',
    'expired-url': 'ok',
    'tampered-url': 'ok',
    'if-none-match': 'ok'
  })
  const reasons = Object.fromEntries(report.checks.map((check) => [check.name, check.reason]))
  t.match(reasons['unsigned-copy-source'], /copied another object into its key/)
  t.match(reasons['unsigned-acl'], /world-readable/)
  t.match(reasons['unsigned-meta'], /stored as object metadata/)
  t.match(reasons['content-length-mismatch'], /refused \(HTTP 403/)
  t.match(reasons['if-none-match'], /HTTP 412/)
  t.equal(report.canariesLeft, 0)
  t.same(await canaries(bucket), [], 'every canary deleted')
})

t.test('the self-test through the header-enforcing proxy: every check ok, canaries cleaned up', async (t) => {
  const storage = testStorage()
  const proxy = await headerProxy(t, storage.endpoint)
  const bucket = await createTestBucket('selftest-proxy')
  const connection = { ...storage, endpoint: proxy.endpoint, forcePathStyle: true }
  const report = await runStorageSelfTest({ presigner: createPresigner(connection), storage: connection, bucket, prefix: PREFIX, timeoutMs: 5000 })
  t.equal(report.verdict, 'safe')
  t.same(new Set(Object.values(outcomes(report))), new Set(['ok']), JSON.stringify(report.checks))
  t.match(report.checks.find((check) => check.name === 'unsigned-copy-source')?.reason, /refused \(HTTP 403 AccessDenied\)/)
  t.equal(proxy.refused, 3, 'the proxy refused the three unsigned-header probes')
  t.same(await canaries(bucket), [], 'every canary deleted')
})

t.test('the cleanup deletes the canaries and leaves every other key alone', async (t) => {
  const storage = testStorage()
  const bucket = await createTestBucket('selftest-stale')
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'users/alice/keep.txt', Body: 'keep' }))
  const connection = { ...storage, forcePathStyle: true }
  await runStorageSelfTest({ presigner: createPresigner(connection), storage: connection, bucket, prefix: PREFIX, timeoutMs: 5000 })
  t.same(await canaries(bucket), [])
  const kept = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'users/alice/keep.txt' }))
  t.equal(await kept.Body?.transformToString(), 'keep', 'objects outside the prefix are untouched')
})

t.test('raw Ceph, STORAGE_UNSAFE_HEADERS=refuse (default): writes 503 STORAGE_UNSAFE, reads work, /readyz says why', async (t) => {
  const app = await buildWithStorage(t, { rawStorage: true })
  await s3.send(new PutObjectCommand({ Bucket: app.bucket, Key: 'users/alice/a.txt', Body: 'A' }))

  const upload = await call(app, 'POST', '/v1/upload-urls', { key: 'users/alice/b.txt', contentType: 'text/plain', contentLength: 1 })
  const problem = assertProblem(t, upload, 503, 'STORAGE_UNSAFE', 'upload URL')
  t.match(problem.detail, /docs\/storage-safety\.md/, 'the detail points at the docs')
  t.match(problem.detail, /x-amz-\* headers/)
  t.equal(upload.headers.get('cache-control'), 'no-store')

  const multipart = multipartApi(app, 'users/alice/big.bin')
  multipart.useToken('2~someUpload', `v1.${'a'.repeat(40)}.${'b'.repeat(43)}`) // well formed: the gate comes after validation
  assertProblem(t, await multipart.create(), 503, 'STORAGE_UNSAFE', 'multipart create')
  assertProblem(t, await multipart.partUrls('2~someUpload', [1]), 503, 'STORAGE_UNSAFE', 'part URLs')
  assertProblem(t, await multipart.complete('2~someUpload', [{ partNumber: 1, etag: '"abc"' }]), 503, 'STORAGE_UNSAFE', 'complete')
  t.equal((await multipart.abort('2~someUpload')).status, 404, 'abort is not a write: it reaches storage (no such upload)')

  const download = await call(app, 'POST', '/v1/download-urls', { key: 'users/alice/a.txt' })
  t.equal(download.status, 200, 'reads keep working')
  t.equal(await (await fetch(download.body.url as string)).text(), 'A')

  t.equal((await call(app, 'POST', '/v1/upload-urls', { key: 'users/alice/b.txt', contentType: 7 })).status, 400, 'bad input is still a 400')
  t.equal((await fetch(app.url + '/v1/upload-urls', { method: 'POST' })).status, 401, 'no token is still a 401')

  const readyz = await fetch(app.url + '/readyz')
  const body = await readyz.json() as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
  t.equal(readyz.status, 200, 'still ready: reads work')
  t.match(body.storageSafety, { verdict: 'unsafe', writes: 'refused', mode: 'refuse', checkedAt: String })
  t.same(body.storageSafety.failedChecks, ['unsigned-copy-source', 'unsigned-acl', 'unsigned-meta'])

  const logged = app.logs.filter((line) => typeof line.msg === 'string' && /storage self-test FAILED/.test(line.msg as string))
  t.equal(logged.length, 1, 'logged once')
  t.match(logged[0], { level: 50, msg: /write requests are refused/, storageSelfTest: { verdict: 'unsafe', checks: { 'unsigned-copy-source': /^failed: / } } })
  t.notMatch(app.logText(), /X-Amz-Signature=[0-9a-f]/, 'no signature in the logs')
  t.notOk(app.logText().includes(testStorage().secretAccessKey), 'no secret in the logs')

  const metrics = await metricsText(app)
  t.match(metrics, /r2signer_storage_safety\{verdict="unsafe"\} 1/)
  t.match(metrics, /r2signer_storage_safety\{verdict="safe"\} 0/)
  t.match(metrics, /r2signer_unsafe_storage_writes_total\{action="refused"\} 4/)
  t.match(metrics, /r2signer_storage_self_tests_total\{verdict="unsafe"\} 1/)
  t.same(await canaries(app.bucket), [], 'the startup probe cleaned up')
})

t.test('raw Ceph, STORAGE_UNSAFE_HEADERS=warn: write URLs are issued, the risk is logged once and metered', async (t) => {
  const app = await buildWithStorage(t, { rawStorage: true, env: { STORAGE_UNSAFE_HEADERS: 'warn' } })
  await settled(app)
  for (const key of ['users/alice/1.txt', 'users/alice/2.txt']) {
    const answer = await call(app, 'POST', '/v1/upload-urls', { key, contentType: 'text/plain', contentLength: 1 })
    t.equal(answer.status, 200, `${key}: signed anyway`)
    const put = await fetch(answer.body.url as string, { method: 'PUT', headers: answer.body.headers as Record<string, string>, body: 'x' })
    t.equal(put.status, 200, 'and storage takes the upload')
  }
  t.equal((await multipartApi(app, 'users/alice/big.bin').create()).status, 201)
  const logged = app.logs.filter((line) => typeof line.msg === 'string' && /storage self-test FAILED/.test(line.msg as string))
  t.equal(logged.length, 1, 'logged once')
  t.match(logged[0], { level: 50, msg: /issued anyway \(STORAGE_UNSAFE_HEADERS=warn\)/ })
  const readyz = await (await fetch(app.url + '/readyz')).json() as { storageSafety: unknown }
  t.match(readyz.storageSafety, { verdict: 'unsafe', writes: 'allowed', mode: 'warn' })
  t.match(await metricsText(app), /r2signer_unsafe_storage_writes_total\{action="allowed"\} 3/)
})

t.test('Ceph behind the header-enforcing proxy: found safe, writes work end to end', async (t) => {
  const app = await buildWithStorage(t)
  const report = await settled(app)
  t.equal(report.verdict, 'safe')
  const answer = await call(app, 'POST', '/v1/upload-urls', { key: 'users/alice/ok.txt', contentType: 'text/plain', contentLength: 4 })
  t.equal(answer.status, 200)
  const put = await fetch(answer.body.url as string, { method: 'PUT', headers: answer.body.headers as Record<string, string>, body: 'fine' })
  t.equal(put.status, 200)
  const stored = await s3.send(new GetObjectCommand({ Bucket: app.bucket, Key: 'users/alice/ok.txt' }))
  t.equal(await stored.Body?.transformToString(), 'fine')
  t.equal((await multipartApi(app, 'users/alice/big.bin').create()).status, 201)
  const readyz = await (await fetch(app.url + '/readyz')).json() as { storageSafety: unknown }
  t.match(readyz.storageSafety, { verdict: 'safe', writes: 'allowed', failedChecks: [] })
  t.match(await metricsText(app), /r2signer_storage_safety\{verdict="safe"\} 1/)
  t.same(await canaries(app.bucket), [])
})

t.test('STORAGE_CHECK_INTERVAL_SECONDS: storage that turns unsafe is found at the next check, and safe again', async (t) => {
  const app = await buildWithStorage(t, { env: { STORAGE_CHECK_INTERVAL_SECONDS: '1' } })
  const proxy = app.proxy as NonNullable<typeof app.proxy>
  t.equal((await settled(app)).verdict, 'safe')
  const upload = () => call(app, 'POST', '/v1/upload-urls', { key: 'users/alice/flip.txt', contentType: 'text/plain', contentLength: 1 })
  t.equal((await upload()).status, 200)

  const until = async (verdict: string) => {
    const deadline = Date.now() + 10_000
    while (app.app.storageSafety.status().verdict !== verdict && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
    return app.app.storageSafety.status().verdict
  }
  proxy.enforce = false
  t.equal(await until('unsafe'), 'unsafe', 'a later check finds the headers honoured')
  const refused = await upload()
  assertProblem(t, refused, 503, 'STORAGE_UNSAFE')
  t.ok(Number(refused.headers.get('retry-after')) <= 1, 'Retry-After: the next check')
  proxy.enforce = true
  t.equal(await until('safe'), 'safe', 'and safe again once storage is fixed')
  t.equal((await upload()).status, 200, 'writes resume without a restart')
})

t.test('before the first verdict, writes wait for it instead of guessing', async (t) => {
  const app = await buildWithStorage(t)
  const before = app.app.storageSafety.status().verdict
  const answer = await call(app, 'POST', '/v1/upload-urls', { key: 'users/alice/early.txt', contentType: 'text/plain', contentLength: 1 })
  t.equal(answer.status, 200, `signed once the verdict came (it was ${before} when the request was sent)`)
  t.equal(app.app.storageSafety.status().verdict, 'safe')
})

t.test('storage that cannot be reached: writes are refused after a bounded wait, with Retry-After', async (t) => {
  const app = await build(t, { storageSelfTest: true, env: { S3_ENDPOINT: `http://127.0.0.1:${await closedPort()}`, S3_TIMEOUT_MS: '300' } })
  const started = Date.now()
  const answer = await call(app, 'POST', '/v1/upload-urls', { key: 'users/alice/x.txt', contentType: 'text/plain', contentLength: 1 })
  const problem = assertProblem(t, answer, 503, 'STORAGE_UNSAFE')
  t.match(problem.detail, /paused until the storage self-test confirms/)
  t.ok(Date.now() - started < 5000, 'answered without hanging')
  t.equal(app.app.storageSafety.status().verdict, 'unknown')
  t.match(app.logs.find((line) => line.msg === 'storage self-test had no clear answer; it will be retried'), { level: 40 })
})

/**
 * The hole itself: alice may write users/alice/ only. Her upload URL plus an unsigned
 * x-amz-copy-source makes raw Ceph copy a key she may not read into hers, with r2-signer's
 * credential; the proxy (like AWS S3) refuses the same request.
 */
async function attack (t: Test, app: TestApp & { bucket: string, otherBucket: string }) {
  await s3.send(new PutObjectCommand({ Bucket: app.otherBucket, Key: 'payroll/secret.txt', Body: 'the secret' }))
  t.equal((await call(app, 'POST', '/v1/download-urls', { key: 'payroll/secret.txt', bucket: app.otherBucket })).status, 403, 'alice may not read it')
  const signed = await call(app, 'POST', '/v1/upload-urls', { key: 'users/alice/loot.txt', contentType: 'text/plain', contentLength: 0 })
  t.equal(signed.status, 200)
  const put = await fetch(signed.body.url as string, {
    method: 'PUT',
    headers: { ...signed.body.headers as Record<string, string>, 'x-amz-copy-source': `/${app.otherBucket}/payroll/secret.txt` }
  })
  const read = await call(app, 'POST', '/v1/download-urls', { key: 'users/alice/loot.txt' })
  const got = read.status === 200 ? await fetch(read.body.url as string) : undefined
  return { put, got: got === undefined ? undefined : { status: got.status, text: await got.text() } }
}

t.test('the attack on raw Ceph: an upload URL plus an unsigned x-amz-copy-source copies an object alice may not read', async (t) => {
  // warn: the only way to get an upload URL for unsafe storage.
  const app = await buildWithStorage(t, { rawStorage: true, permissions: aliceOnly, env: { STORAGE_UNSAFE_HEADERS: 'warn' } })
  const { put, got } = await attack(t, app)
  t.equal(put.status, 200, 'Ceph executed a server-side copy')
  t.same(got, { status: 200, text: 'the secret' }, 'alice downloads the secret from her own key')
})

t.test('the same attack through the header-enforcing proxy: 403, nothing copied', async (t) => {
  const app = await buildWithStorage(t, { permissions: aliceOnly })
  const { put, got } = await attack(t, app)
  t.equal(put.status, 403)
  t.match(await put.text(), /<Code>AccessDenied<\/Code>.*x-amz-copy-source/s)
  t.equal(got?.status, 404, 'her key holds nothing')
})
