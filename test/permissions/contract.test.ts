/**
 * The permission-service contract, row by row, over real HTTP: what r2-signer sends
 * (the caller's Authorization header verbatim, {subject, action, bucket, key}) and how
 * it reads every kind of answer. It fails closed: only 200 {"allowed": true} yields a URL.
 */
import t, { type Test } from 'tap'
import { build, expectProblem, type TestApp } from '../helpers/app.js'
import { closedPort } from '../helpers/ports.js'
import { json, startPermissionStub, type StubHandler } from '../helpers/permission-stub.js'
import { bearer, tokenFor } from '../helpers/tokens.js'

const DOWNLOAD = { key: 'users/alice/photo.jpg' }
const UPLOAD = { key: 'users/alice/upload.bin', contentType: 'application/octet-stream', contentLength: 1024 }

type Body = Record<string, unknown>

async function unavailable (t: Test, res: Response): Promise<void> {
  await expectProblem(t, res, 503, 'PERMISSION_SERVICE_UNAVAILABLE')
  t.match(res.headers.get('retry-after'), /^\d+$/, 'Retry-After in seconds')
}

/** Asks for a download URL with a valid token for alice; returns the response and the checks the stub got. */
async function ask (app: TestApp, body: object = DOWNLOAD, route = '/v1/download-urls') {
  const before = app.permissions.received.length
  const res = await app.post(route, body, bearer(tokenFor('alice')))
  return { res, checks: () => app.permissions.received.slice(before) }
}

t.test('what r2-signer sends', async (t) => {
  const app = await build(t)

  t.test('download: Authorization forwarded verbatim, action read', async (t) => {
    const token = tokenFor('alice')
    const before = app.permissions.received.length
    const res = await app.post('/v1/download-urls', DOWNLOAD, { authorization: `Bearer ${token}` })
    t.equal(res.status, 200)
    const checks = app.permissions.received.slice(before)
    t.equal(checks.length, 1, 'exactly one check')
    t.equal(checks[0]?.authorization, `Bearer ${token}`, 'Authorization header forwarded verbatim')
    t.match(checks[0]?.contentType, /^application\/json/, 'JSON request')
    t.same(checks[0]?.body, { subject: 'alice', action: 'read', bucket: 'media', key: 'users/alice/photo.jpg' }, 'exact body')
  })

  t.test('upload: action write', async (t) => {
    const { res, checks } = await ask(app, UPLOAD, '/v1/upload-urls')
    t.equal(res.status, 200)
    t.equal(checks().length, 1)
    t.same(checks()[0]?.body, { subject: 'alice', action: 'write', bucket: 'media', key: 'users/alice/upload.bin' })
  })

  t.test('a lower-case "bearer" scheme is forwarded as the caller sent it', async (t) => {
    const token = tokenFor('alice')
    const before = app.permissions.received.length
    const res = await app.post('/v1/download-urls', DOWNLOAD, { authorization: `bearer ${token}` })
    t.equal(res.status, 200)
    t.equal(app.permissions.received[before]?.authorization, `bearer ${token}`)
  })

  t.test('the subject is the token sub, the key is sent byte for byte', async (t) => {
    const key = 'users/ünïcode/a b+c%20d#e?f&g.txt'
    const before = app.permissions.received.length
    const res = await app.post('/v1/download-urls', { key }, bearer(tokenFor('auth0|123')))
    t.equal(res.status, 200)
    t.same(app.permissions.received[before]?.body, { subject: 'auth0|123', action: 'read', bucket: 'media', key })
  })
})

t.test('the bucket named in the request is the one checked', async (t) => {
  const app = await build(t, { env: { S3_ALLOWED_BUCKETS: 'archive,backups' } })
  const { res, checks } = await ask(app, { ...DOWNLOAD, bucket: 'archive' })
  t.equal(res.status, 200)
  t.match(checks()[0]?.body, { bucket: 'archive', action: 'read' })
  const body = await res.json() as Body
  t.equal(body.bucket, 'archive')
})

t.test('answers', async (t) => {
  const app = await build(t)

  t.test('200 {"allowed": true} → 200 with a URL (download and upload)', async (t) => {
    app.permissions.respond((_c, res) => json(res, 200, { allowed: true }))
    for (const [route, body] of [['/v1/download-urls', DOWNLOAD], ['/v1/upload-urls', UPLOAD]] as const) {
      const { res } = await ask(app, body, route)
      t.equal(res.status, 200, route)
      t.equal(res.headers.get('cache-control'), 'no-store')
      const answer = await res.json() as Body
      t.match(answer.url, /^http:\/\/127\.0\.0\.1:9\/media\/users\/alice\//, 'a URL')
    }
  })

  t.test('200 {"allowed": true} with extra fields → 200', async (t) => {
    app.permissions.respond((_c, res) => json(res, 200, { allowed: true, reason: 'owner', ttl: 60 }))
    const { res } = await ask(app)
    t.equal(res.status, 200)
  })

  const denied: Array<[string, StubHandler]> = [
    ['200 {"allowed": false}', (_c, res) => json(res, 200, { allowed: false })],
    ['403', (_c, res) => json(res, 403, { allowed: false })],
    ['403 with an allowed:true body', (_c, res) => json(res, 403, { allowed: true })],
    ['403 without a body', (_c, res) => { res.writeHead(403).end() }]
  ]
  for (const [name, handler] of denied) {
    t.test(`${name} → 403 PERMISSION_DENIED`, async (t) => {
      app.permissions.respond(handler)
      for (const [route, body] of [['/v1/download-urls', DOWNLOAD], ['/v1/upload-urls', UPLOAD]] as const) {
        const { res, checks } = await ask(app, body, route)
        await expectProblem(t, res, 403, 'PERMISSION_DENIED')
        t.equal(checks().length, 1, 'asked once')
      }
    })
  }

  t.test('401 → 401 with the invalid_token challenge', async (t) => {
    app.permissions.respond((_c, res) => json(res, 401, { error: 'token revoked' }))
    const { res } = await ask(app)
    await expectProblem(t, res, 401, 'UNAUTHORIZED')
    t.equal(res.headers.get('www-authenticate'), 'Bearer realm="r2-signer", error="invalid_token"')
  })

  t.test('401 with an allowed:true body is still 401', async (t) => {
    app.permissions.respond((_c, res) => json(res, 401, { allowed: true }))
    const { res } = await ask(app)
    await expectProblem(t, res, 401, 'UNAUTHORIZED')
  })

  const raw = (status: number, text: string, headers: Record<string, string> = { 'content-type': 'application/json' }): StubHandler =>
    (_c, res) => { res.writeHead(status, headers).end(text) }

  const failClosed: Array<[string, StubHandler]> = [
    ['500', (_c, res) => json(res, 500, { allowed: true })],
    ['502', raw(502, 'Bad Gateway', { 'content-type': 'text/plain' })],
    ['503', (_c, res) => json(res, 503, { allowed: true }, { 'retry-after': '30' })],
    ['504', raw(504, '')],
    ['301 redirect', raw(301, '', { location: 'http://127.0.0.1:9/elsewhere' })],
    ['302 redirect', raw(302, '', { location: 'http://127.0.0.1:9/elsewhere' })],
    ['304 not modified', raw(304, '')],
    ['404', (_c, res) => json(res, 404, { allowed: true })],
    ['429', (_c, res) => json(res, 429, { allowed: true }, { 'retry-after': '1' })],
    ['400', (_c, res) => json(res, 400, { allowed: true })],
    ['201 {"allowed": true}', (_c, res) => json(res, 201, { allowed: true })],
    ['204 no content', raw(204, '')],
    ['200 non-JSON body', raw(200, 'allowed', { 'content-type': 'text/plain' })],
    ['200 truncated JSON', raw(200, '{"allowed": tr')],
    ['200 empty body', raw(200, '')],
    ['200 {"allowed": "true"}', (_c, res) => json(res, 200, { allowed: 'true' })],
    ['200 {"allowed": "false"}', (_c, res) => json(res, 200, { allowed: 'false' })],
    ['200 {"allowed": 1}', (_c, res) => json(res, 200, { allowed: 1 })],
    ['200 {"allowed": 0}', (_c, res) => json(res, 200, { allowed: 0 })],
    ['200 {"allowed": null}', (_c, res) => json(res, 200, { allowed: null })],
    ['200 {"allowed": {}}', (_c, res) => json(res, 200, { allowed: {} })],
    ['200 {"allowed": [true]}', (_c, res) => json(res, 200, { allowed: [true] })],
    ['200 {} (allowed missing)', (_c, res) => json(res, 200, {})],
    ['200 {"Allowed": true} (wrong case)', (_c, res) => json(res, 200, { Allowed: true })],
    ['200 null body', raw(200, 'null')],
    ['200 true body', raw(200, 'true')],
    ['200 "allowed" string body', raw(200, '"allowed"')],
    ['200 array body', (_c, res) => json(res, 200, [{ allowed: true }])],
    ['200 empty array body', (_c, res) => json(res, 200, [])],
    ['connection destroyed before answering', (_c, res) => { res.socket?.destroy() }],
    ['connection destroyed mid-body', (_c, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' })
      res.write('{"allowed": tr')
      setTimeout(() => res.socket?.destroy(), 20)
    }]
  ]
  for (const [name, handler] of failClosed) {
    t.test(`${name} → 503 PERMISSION_SERVICE_UNAVAILABLE`, async (t) => {
      app.permissions.respond(handler)
      for (const [route, body] of [['/v1/download-urls', DOWNLOAD], ['/v1/upload-urls', UPLOAD]] as const) {
        const { res, checks } = await ask(app, body, route)
        await unavailable(t, res)
        t.equal(checks().length, 1, 'asked once')
      }
    })
  }
})

t.test('a redirect is never followed (it would carry the user token elsewhere)', async (t) => {
  const elsewhere = await startPermissionStub()
  t.teardown(elsewhere.close)
  for (const status of [301, 302, 303, 307, 308]) {
    t.test(`${status}`, async (t) => {
      const app = await build(t, { permissions: (_c, res) => { res.writeHead(status, { location: elsewhere.url }).end() } })
      const { res, checks } = await ask(app)
      await unavailable(t, res)
      t.equal(checks().length, 1)
      t.equal(elsewhere.received.length, 0, 'the redirect target was never called')
    })
  }
})

t.test('timeout (PERMISSIONS_TIMEOUT_MS) → 503 well before the caller gives up', async (t) => {
  const app = await build(t, { env: { PERMISSIONS_TIMEOUT_MS: '200' }, permissions: () => { /* never answers */ } })
  const started = performance.now()
  const { res, checks } = await ask(app)
  const elapsed = performance.now() - started
  await unavailable(t, res)
  t.equal(checks().length, 1, 'the service was asked')
  t.ok(elapsed >= 150, `waited for the timeout (${Math.round(elapsed)} ms)`)
  t.ok(elapsed < 2000, `answered well before 5 s (${Math.round(elapsed)} ms)`)
})

t.test('timeout while the answer body trickles in → 503', async (t) => {
  const app = await build(t, {
    env: { PERMISSIONS_TIMEOUT_MS: '200' },
    permissions: (_c, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"allowed":')
      // ...and never finishes.
    }
  })
  const started = performance.now()
  const { res } = await ask(app)
  const elapsed = performance.now() - started
  await unavailable(t, res)
  t.ok(elapsed < 2000, `answered in ${Math.round(elapsed)} ms`)
})

t.test('connection refused → 503', async (t) => {
  const port = await closedPort()
  const app = await build(t, { env: { PERMISSIONS_URL: `http://127.0.0.1:${port}/check` } })
  const started = performance.now()
  const { res } = await ask(app)
  await unavailable(t, res)
  t.ok(performance.now() - started < 2000, 'fails fast')
  t.equal(app.permissions.received.length, 0, 'the (unused) stub got nothing')
})

t.test('the permission service is not asked when', async (t) => {
  const app = await build(t, { env: { SIGNED_URL_MAX_TTL_SECONDS: '600' } })

  t.test('the token is invalid', async (t) => {
    const before = app.permissions.received.length
    const res = await app.post('/v1/download-urls', DOWNLOAD, bearer(tokenFor('alice', { key: 'not-the-configured-secret-0123456789abcdef' })))
    await expectProblem(t, res, 401, 'UNAUTHORIZED')
    t.equal(app.permissions.received.length, before)
  })

  t.test('there is no token', async (t) => {
    const before = app.permissions.received.length
    const res = await app.post('/v1/upload-urls', UPLOAD)
    await expectProblem(t, res, 401, 'UNAUTHORIZED')
    t.equal(app.permissions.received.length, before)
  })

  const invalidBodies: Array<[string, string, object, string]> = [
    ['download with an invalid key', '/v1/download-urls', { key: 'a/../b' }, 'INVALID_KEY'],
    ['download with an unknown property', '/v1/download-urls', { ...DOWNLOAD, acl: 'public-read' }, 'INVALID_REQUEST'],
    ['download with expiresIn above the max', '/v1/download-urls', { ...DOWNLOAD, expiresIn: 601 }, 'INVALID_EXPIRES_IN'],
    ['upload without contentType', '/v1/upload-urls', { key: 'a.bin' }, 'INVALID_REQUEST'],
    ['upload with a bad contentMd5', '/v1/upload-urls', { ...UPLOAD, contentMd5: 'nope' }, 'INVALID_REQUEST']
  ]
  for (const [name, route, body, code] of invalidBodies) {
    t.test(`the body is invalid: ${name}`, async (t) => {
      const { res, checks } = await ask(app, body, route)
      await expectProblem(t, res, 400, code)
      t.equal(checks().length, 0)
    })
  }

  t.test('the bucket is not in S3_ALLOWED_BUCKETS', async (t) => {
    for (const [route, body] of [['/v1/download-urls', DOWNLOAD], ['/v1/upload-urls', UPLOAD]] as const) {
      const { res, checks } = await ask(app, { ...body, bucket: 'someone-elses' }, route)
      await expectProblem(t, res, 403, 'BUCKET_NOT_ALLOWED')
      t.equal(checks().length, 0, route)
    }
  })
})

t.test('the outcome is in the request log line, the token is not', async (t) => {
  const app = await build(t, { permissions: (_c, res) => json(res, 200, { allowed: false }) })
  const token = tokenFor('alice')
  const res = await app.post('/v1/download-urls', DOWNLOAD, bearer(token))
  t.equal(res.status, 403)
  const line = app.logs.find((l) => l.msg === 'request completed')
  t.match(line, { subject: 'alice', action: 'read', bucket: 'media', key: DOWNLOAD.key, permission: 'denied', status: 403 })
  t.notOk(app.logText().includes(token), 'the token never reaches the logs')
})
