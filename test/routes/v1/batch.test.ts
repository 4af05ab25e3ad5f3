/**
 * POST /v1/batch over real HTTP against a real permission-service stub: per-item problems for every
 * failure class, whole-request failures, request order, identical checks asked once, the batch
 * permission endpoint (one round trip, strict answers failing closed per item), the one log line.
 * Signed batch URLs against Ceph: test/e2e/batch.test.ts.
 */
import t, { type Test } from 'tap'
import { answerOf, build, expectOk, expectProblem, postAsAlice, type Json, type TestApp } from '../../helpers/app.js'
import { json, type ReceivedCheck } from '../../helpers/permission-stub.js'
import { bearer, tokenFor } from '../../helpers/tokens.js'
import { keyFromUrl, urlQuery } from '../../helpers/signed-urls.js'

const BATCH = '/v1/batch'
type Check = { subject: string, action: string, bucket: string, key: string }

/** Single checks: allowed unless the key contains "secret". Batch checks: the same rule per check. */
function policy (check: ReceivedCheck, res: Parameters<typeof json>[0]): void {
  if (check.path === '/batch') {
    const { checks } = check.body as { checks: Check[] }
    json(res, 200, { results: checks.map((c) => ({ allowed: !c.key.includes('secret') })) })
    return
  }
  json(res, 200, { allowed: !(check.body as Check).key.includes('secret') })
}

/** POSTs a batch (as alice, or with `token`: cached decisions are per exact Authorization header) and returns its items. */
async function batch (t: Test, app: TestApp, body: unknown, token = tokenFor('alice')): Promise<Json[]> {
  const answer = await expectOk(t, await app.post(BATCH, body, bearer(token)))
  return answer.items as Json[]
}

/** Asserts one refused item: its status and a complete problem with that code. */
function assertItemProblem (t: Test, item: Json | undefined, status: number, code: string, detail?: RegExp): void {
  t.same(Object.keys(item ?? {}).sort(), ['problem', 'status'], `${code}: status and problem only, no url`)
  t.equal(item?.status, status, `${code}: status ${status}`)
  t.match(item?.problem, { status, code, type: `urn:r2-signer:problem:${code.toLowerCase().replaceAll('_', '-')}`, title: String, detail: detail ?? String })
}

t.test('per-item results in request order: every failure class is its item\'s problem', async (t) => {
  const app = await build(t, { env: { S3_ALLOWED_BUCKETS: 'archive' }, permissions: policy })
  const items = await batch(t, app, {
    expiresIn: 120,
    items: [
      { op: 'download', key: 'users/alice/a.jpg' },
      { op: 'download' },
      { op: 'download', key: 42 },
      { op: 'download', key: '../etc/passwd' },
      { op: 'download', key: 'b.jpg', bucket: 'elsewhere' },
      { op: 'download', key: 'users/alice/secret.pdf' },
      { op: 'upload', key: 'users/alice/up.bin', contentType: 'application/octet-stream', contentLength: 12 },
      { op: 'upload', key: 'users/alice/no-length.bin', contentType: 'application/octet-stream' },
      { op: 'upload', key: 'users/alice/huge.bin', contentType: 'application/octet-stream', contentLength: 6 * 1024 ** 3 },
      { op: 'delete', key: 'x' },
      'not an item',
      { op: 'download', key: 'c.jpg', bucket: 'archive', method: 'HEAD', extra: true },
      { op: 'download', key: 'c.jpg', bucket: 'archive', method: 'HEAD' }
    ]
  })
  t.equal(items.length, 13, 'one result per item')

  t.match(items[0], { status: 200, method: 'GET', headers: {}, bucket: 'media', key: 'users/alice/a.jpg', expiresIn: 120 })
  t.equal(keyFromUrl(items[0]?.url), 'users/alice/a.jpg')
  t.equal(urlQuery(items[0]?.url).get('X-Amz-Expires'), '120', 'the batch expiresIn is signed')
  t.same(Object.keys(items[0] ?? {}).sort(), ['bucket', 'expiresAt', 'expiresIn', 'headers', 'key', 'method', 'status', 'url'])

  assertItemProblem(t, items[1], 400, 'INVALID_REQUEST', /items\[1\] is missing the required property "key"/)
  assertItemProblem(t, items[2], 400, 'INVALID_REQUEST', /items\[2\]\.key must be a string/)
  assertItemProblem(t, items[3], 400, 'INVALID_KEY')
  assertItemProblem(t, items[4], 403, 'BUCKET_NOT_ALLOWED')
  assertItemProblem(t, items[5], 403, 'PERMISSION_DENIED', /read/)
  t.match(items[6], { status: 200, method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-length': '12' }, key: 'users/alice/up.bin' })
  t.match(urlQuery(items[6]?.url).get('X-Amz-SignedHeaders'), /content-length;content-type;host/)
  assertItemProblem(t, items[7], 400, 'INVALID_REQUEST', /contentLength/)
  assertItemProblem(t, items[8], 400, 'INVALID_REQUEST', /items\[8\]\.contentLength must be at most 5368709120/)
  assertItemProblem(t, items[9], 400, 'INVALID_REQUEST', /items\[9\]\.op must be "download" or "upload"/)
  assertItemProblem(t, items[10], 400, 'INVALID_REQUEST', /items\[10\] must be an object/)
  assertItemProblem(t, items[11], 400, 'INVALID_REQUEST', /must not have the property "extra"/)
  t.match(items[12], { status: 200, method: 'HEAD', bucket: 'archive', key: 'c.jpg' })

  const asked = app.permissions.received.map((check) => check.body as Check)
  t.same(asked.map((c) => `${c.action} ${c.bucket}/${c.key}`).sort(), [
    'read archive/c.jpg', 'read media/users/alice/a.jpg', 'read media/users/alice/secret.pdf', 'write media/users/alice/up.bin'
  ], 'only valid items in allowed buckets are asked, each once, with their action')
  t.ok(asked.every((c) => c.subject === 'alice'), 'as the token\'s subject')

  const line = app.logs.find((l) => l.route === BATCH)
  t.match(line, { status: 200, subject: 'alice', batch: { items: 13, signed: 3, denied: 2, failed: 8 } }, 'one log line with the counts')
  t.notMatch(app.logText(), /X-Amz-Signature=[0-9a-f]/, 'no signed URL in the logs')
  t.notMatch(app.logText(), /users\/alice\/a\.jpg/, 'no key of a batch in the logs')

  const metrics = await (await fetch(`${app.url}/metrics`)).text()
  t.match(metrics, /r2signer_batch_items_total\{op="download",outcome="signed"\} 2/)
  t.match(metrics, /r2signer_batch_items_total\{op="upload",outcome="signed"\} 1/)
  t.match(metrics, /r2signer_signed_urls_total\{operation="PutObject"\} 1/)
})

t.test('upload items follow the upload policy of the single route: ceiling, types, the permission service\'s limits', async (t) => {
  const app = await build(t, {
    env: { UPLOAD_MAX_BYTES: '1000', UPLOAD_CONTENT_TYPES: 'image/*,text/plain' },
    batchPermissions: true,
    permissions: (check, res) => {
      const { checks } = check.body as { checks: Check[] }
      json(res, 200, { results: checks.map((c) => c.key.startsWith('small/') ? { allowed: true, limits: { maxBytes: 10, writeOnce: true } } : { allowed: true }) })
    }
  })
  const upload = (key: string, contentType: string, contentLength: number) => ({ op: 'upload', key, contentType, contentLength })
  const items = await batch(t, app, {
    items: [
      upload('a.png', 'image/png', 1000),
      upload('b.png', 'image/png', 1001),
      upload('c.html', 'text/html', 10),
      upload('small/d.txt', 'text/plain', 10),
      upload('small/e.txt', 'text/plain', 11),
      { op: 'download', key: 'small/f.txt' }
    ]
  })
  t.match(items[0], { status: 200, headers: { 'content-length': '1000', 'content-type': 'image/png' } })
  assertItemProblem(t, items[1], 413, 'UPLOAD_TOO_LARGE')
  assertItemProblem(t, items[2], 403, 'CONTENT_TYPE_NOT_ALLOWED')
  t.match(items[3], { status: 200, headers: { 'if-none-match': '*' } }, 'the batch answer\'s limits apply: write-once')
  assertItemProblem(t, items[4], 413, 'UPLOAD_TOO_LARGE', /10/)
  t.match(items[5], { status: 200, method: 'GET' }, 'limits concern uploads only')
  t.equal(new Set(items.filter((item) => item.status === 200).map((item) => item.expiresAt)).size, 1, 'signed at one instant: they expire together')

  app.permissions.respond((check, res) => json(res, 200, { results: (check.body as { checks: Check[] }).checks.map(() => ({ allowed: true, limits: { maxBytes: -1 } })) }))
  const malformed = await batch(t, app, { items: [upload('g.png', 'image/png', 1), upload('h.png', 'image/png', 1)] })
  malformed.forEach((item) => assertItemProblem(t, item, 503, 'PERMISSION_SERVICE_UNAVAILABLE'))
})

t.test('whole-request failures: token, envelope, size, media type, expiresIn', async (t) => {
  const app = await build(t, { env: { BATCH_MAX_ITEMS: '5' }, permissions: policy })
  const one = [{ op: 'download', key: 'a.jpg' }]
  await expectProblem(t, await app.post(BATCH, { items: one }), 401, 'UNAUTHORIZED', 'no token')
  await expectProblem(t, await app.post(BATCH, { items: one }, bearer('not.a.token')), 401, 'UNAUTHORIZED', 'bad token')
  await expectProblem(t, await postAsAlice(app, BATCH, {}), 400, 'INVALID_REQUEST', 'no items')
  await expectProblem(t, await postAsAlice(app, BATCH, { items: [] }), 400, 'INVALID_REQUEST', 'empty items')
  await expectProblem(t, await postAsAlice(app, BATCH, { items: one[0] }), 400, 'INVALID_REQUEST', 'items not an array')
  await expectProblem(t, await postAsAlice(app, BATCH, [one]), 400, 'INVALID_REQUEST', 'body not an object')
  await expectProblem(t, await postAsAlice(app, BATCH, { items: one, extra: 1 }), 400, 'INVALID_REQUEST', 'unknown member')
  const tooMany = await expectProblem(t, await postAsAlice(app, BATCH, { items: Array.from({ length: 6 }, () => one[0]) }), 400, 'INVALID_REQUEST', 'over BATCH_MAX_ITEMS')
  t.match(tooMany.detail, /body\.items must list at most 5 items/)
  await expectProblem(t, await postAsAlice(app, BATCH, { items: one, expiresIn: 7200 }), 400, 'INVALID_EXPIRES_IN', 'expiresIn over the max')
  await expectProblem(t, await postAsAlice(app, BATCH, '{"items": ['), 400, 'INVALID_REQUEST', 'not JSON')
  await expectProblem(t, await postAsAlice(app, BATCH, 'items=1', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'UNSUPPORTED_MEDIA_TYPE')
  const huge = JSON.stringify({ items: [{ op: 'download', key: 'k'.repeat(64 * 1024 + 5 * 2048) }] })
  await expectProblem(t, await postAsAlice(app, BATCH, huge), 413, 'PAYLOAD_TOO_LARGE')
  t.equal(app.permissions.received.length, 0, 'none of them asked the permission service')
  const ok = await expectOk(t, await postAsAlice(app, BATCH, { items: Array.from({ length: 5 }, () => one[0]) }))
  t.equal(ok.items.length, 5, 'BATCH_MAX_ITEMS items are fine')
})

t.test('without PERMISSIONS_BATCH_URL: identical checks asked once, cached decisions reused, concurrency bounded', async (t) => {
  let inFlight = 0
  let most = 0
  const app = await build(t, {
    env: { PERMISSIONS_BATCH_CONCURRENCY: '3' },
    permissions: (check, res) => {
      inFlight++
      most = Math.max(most, inFlight)
      setTimeout(() => { inFlight--; json(res, 200, { allowed: true }, { 'cache-control': 'max-age=60' }) }, 20)
    }
  })
  const items = Array.from({ length: 20 }, (_, i) => ({ op: 'download', key: `k${i % 10}.jpg` }))
  const alice = tokenFor('alice')
  const first = await batch(t, app, { items }, alice)
  t.ok(first.every((item) => item.status === 200), 'all signed')
  t.same(first.map((item) => item.key), items.map((item) => item.key), 'request order')
  t.equal(app.permissions.received.length, 10, '20 items, 10 distinct checks: 10 asked')
  t.equal(most, 3, 'at most PERMISSIONS_BATCH_CONCURRENCY at once')
  const second = await batch(t, app, { items: [...items, { op: 'download', key: 'new.jpg' }] }, alice)
  t.equal(second.length, 21)
  t.equal(app.permissions.received.length, 11, 'cached decisions are used: only the new key is asked')
  const line = app.logs.filter((l) => l.route === BATCH).at(-1)
  t.match(line, { batch: { items: 21, signed: 21, denied: 0, failed: 0 } })
})

t.test('without PERMISSIONS_BATCH_URL: the permission service down fails each asked item closed, not the request', async (t) => {
  const app = await build(t, { env: { PERMISSIONS_CACHE_MAX_ENTRIES: '0' }, permissions: (_check, res) => json(res, 500, {}) })
  const items = await batch(t, app, { items: [{ op: 'download', key: 'a.jpg' }, { op: 'download', key: 'a.jpg' }, { op: 'download' }] })
  assertItemProblem(t, items[0], 503, 'PERMISSION_SERVICE_UNAVAILABLE')
  assertItemProblem(t, items[1], 503, 'PERMISSION_SERVICE_UNAVAILABLE')
  assertItemProblem(t, items[2], 400, 'INVALID_REQUEST', /key/)
  t.equal(app.permissions.received.length, 1, 'identical checks asked once even with the cache off')
})

t.test('with PERMISSIONS_BATCH_URL', async (t) => {
  const app = await build(t, { permissions: policy, batchPermissions: true })

  t.test('one round trip for many distinct checks; identical ones asked once', async (t) => {
    const before = app.permissions.received.length
    const token = tokenFor('alice')
    const items = [
      ...Array.from({ length: 50 }, (_, i) => ({ op: 'download', key: `users/alice/seg-${i}.ts` })),
      { op: 'download', key: 'users/alice/seg-0.ts' },
      { op: 'download', key: 'users/alice/secret.ts' },
      { op: 'upload', key: 'users/alice/new.bin', contentType: 'text/plain', contentLength: 3 }
    ]
    const res = await app.post(BATCH, { items }, bearer(token))
    const body = await expectOk(t, res)
    const received = app.permissions.received.slice(before)
    t.equal(received.length, 1, 'one round trip')
    t.equal(received[0]?.path, '/batch', 'to the batch endpoint')
    t.equal(received[0]?.authorization, `Bearer ${token}`, 'with the caller\'s Authorization')
    const { checks } = received[0]?.body as { checks: Check[] }
    t.equal(checks.length, 52, '53 items, 52 distinct checks')
    t.same(checks[51], { subject: 'alice', action: 'write', bucket: 'media', key: 'users/alice/new.bin' })
    t.same(body.items.map((item: Json) => item.status), [...Array(51).fill(200), 403, 200], 'results in order')
    t.equal(body.items[50].key, 'users/alice/seg-0.ts')
  })

  t.test('malformed batch answers fail every item it should have decided closed (503 per item)', async (t) => {
    const cases: Array<[string, (checks: Check[], res: Parameters<typeof json>[0]) => void]> = [
      ['wrong length', (checks, res) => json(res, 200, { results: checks.slice(1).map(() => ({ allowed: true })) })],
      ['non-boolean allowed', (checks, res) => json(res, 200, { results: checks.map((_, i) => ({ allowed: i === 0 ? 'true' : true })) })],
      ['not JSON', (_checks, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"results": [')],
      ['duplicate key', (checks, res) => res.writeHead(200).end(`{"results": ${JSON.stringify(checks.map(() => ({ allowed: true })))}, "results": []}`)],
      ['results not an array', (_checks, res) => json(res, 200, { results: { allowed: true } })],
      ['a result not an object', (checks, res) => json(res, 200, { results: checks.map(() => true) })],
      ['5xx', (_checks, res) => json(res, 502, {})],
      ['timeout', () => {}]
    ]
    for (const [name, answer] of cases) {
      app.permissions.respond((check, res) => {
        if (check.path !== '/batch') return json(res, 200, { allowed: true })
        answer((check.body as { checks: Check[] }).checks, res)
      })
      const items = await batch(t, app, { items: [{ op: 'download', key: `m/${name}/1` }, { op: 'download', key: `m/${name}/2` }, { op: 'download', key: 'x', bucket: 'elsewhere' }] })
      assertItemProblem(t, items[0], 503, 'PERMISSION_SERVICE_UNAVAILABLE')
      assertItemProblem(t, items[1], 503, 'PERMISSION_SERVICE_UNAVAILABLE')
      assertItemProblem(t, items[2], 403, 'BUCKET_NOT_ALLOWED')
      t.pass(`${name}: failed closed per item`)
    }
  })

  t.test('401 and 403 answer every check; the batch answer\'s Cache-Control applies to every result', async (t) => {
    app.permissions.respond((check, res) => json(res, 401, {}))
    const unauthenticated = await batch(t, app, { items: [{ op: 'download', key: 'u/1' }, { op: 'download', key: 'u/2' }] })
    unauthenticated.forEach((item) => assertItemProblem(t, item, 401, 'UNAUTHORIZED'))

    app.permissions.respond((check, res) => {
      const { checks } = check.body as { checks: Check[] }
      json(res, 200, { results: checks.map(() => ({ allowed: true })) }, { 'cache-control': 'private, max-age=60' })
    })
    const before = app.permissions.received.length
    // One token throughout: a decision is cached for the exact Authorization header.
    const alice = bearer(tokenFor('alice'))
    await expectOk(t, await app.post(BATCH, { items: [{ op: 'download', key: 'c/1' }, { op: 'download', key: 'c/2' }] }, alice))
    const again = (await expectOk(t, await app.post(BATCH, { items: [{ op: 'download', key: 'c/2' }, { op: 'download', key: 'c/1' }, { op: 'download', key: 'c/3' }] }, alice))).items as Json[]
    t.ok(again.every((item) => item.status === 200))
    const received = app.permissions.received.slice(before)
    t.equal(received.length, 2, 'two round trips')
    t.same((received[1]?.body as { checks: Check[] }).checks.map((c) => c.key), ['c/3'], 'the second asks only what was not cached')
    const single = await answerOf(await app.post('/v1/download-urls', { key: 'c/1' }, alice))
    t.equal(single.status, 200, 'the single route reuses a batch decision')
    t.equal(app.permissions.received.length, before + 2, 'without asking')
  })
})

t.test('revocations and rate limits apply to a batch: REVOKED per item (never asked), the items counted as URLs', async (t) => {
  const app = await build(t, { env: { RATE_LIMIT_URLS_PER_MINUTE: '10' }, batchPermissions: true, permissions: policy })
  await app.app.sharedState.revocations.create({ keyPrefix: 'users/alice/revoked/', bucket: 'media' })
  const items = await batch(t, app, { items: [{ op: 'download', key: 'users/alice/revoked/a.jpg' }, { op: 'download', key: 'users/alice/ok.jpg' }] })
  assertItemProblem(t, items[0], 403, 'REVOKED', /prefix/)
  t.match(items[1], { status: 200 })
  const asked = app.permissions.received.flatMap((call) => (call.body as { checks: Check[] }).checks.map((c) => c.key))
  t.same(asked, ['users/alice/ok.jpg'], 'a revoked item never reaches the permission service')

  // 2 URLs spent; 8 left this minute: a batch of 9 is refused as a whole, one of 8 is not.
  const over = await expectProblem(t, await postAsAlice(app, BATCH, { items: Array.from({ length: 9 }, (_, i) => ({ op: 'download', key: `r/${i}` })) }), 429, 'RATE_LIMITED')
  t.match(over.detail, /10 per minute/)
  const within = await batch(t, app, { items: Array.from({ length: 8 }, (_, i) => ({ op: 'download', key: `r/${i}` })) })
  t.equal(within.length, 8)
})
