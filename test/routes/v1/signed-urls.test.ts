/**
 * What /v1/download-urls and /v1/upload-urls share, over real HTTP: object keys, expiresIn,
 * request bodies (JSON, media types, the body limit), buckets, Cache-Control: no-store
 * everywhere, problem+json errors, 404s and /healthz. Each route's own fields:
 * ./download-urls.test.ts, ./upload-urls.test.ts.
 */
import t from 'tap'
import { build, expectOk, expectProblem, postAsAlice } from '../../helpers/app.js'
import { keyFromUrl, urlQuery } from '../../helpers/signed-urls.js'
import { bearer, tokenFor } from '../../helpers/tokens.js'

type Body = Record<string, unknown>
const DOWNLOAD = '/v1/download-urls'
const UPLOAD = '/v1/upload-urls'

t.test('GET /healthz answers 200 without auth', async (t) => {
  const app = await build(t)
  const res = await fetch(`${app.url}/healthz`)
  t.equal(res.status, 200)
  t.same(await res.json(), { status: 'ok' })
  t.equal(app.permissions.received.length, 0)
})

t.test('unknown routes are 404 problem+json; a known path with another method is 405 (test/http/wrong-requests.test.ts)', async (t) => {
  const app = await build(t)
  for (const [method, path] of [['GET', '/nope'], ['POST', '/v1/nope'], ['GET', '/v2/download-urls']]) {
    t.test(`${method} ${path}`, async (t) => {
      const res = await fetch(app.url + (path as string), { method, headers: bearer(tokenFor('alice')) })
      await expectProblem(t, res, 404, 'NOT_FOUND')
    })
  }
  for (const [method, path] of [['GET', '/v1/download-urls'], ['DELETE', '/v1/upload-urls']]) {
    t.test(`${method} ${path}`, async (t) => {
      const res = await fetch(app.url + (path as string), { method, headers: bearer(tokenFor('alice')) })
      await expectProblem(t, res, 405, 'METHOD_NOT_ALLOWED')
      t.equal(res.headers.get('allow'), 'POST')
    })
  }
})

t.test('object keys', async (t) => {
  const app = await build(t)

  const accepted: Array<[string, string]> = [
    ['1 byte', 'a'],
    ['1024 ASCII bytes', 'k'.repeat(1024)],
    ['1024 bytes of 2-byte characters', 'é'.repeat(512)],
    ['1024 bytes of 3-byte characters', '€'.repeat(341) + 'x'],
    ['1024 bytes of 4-byte characters (emoji)', '😀'.repeat(256)],
    ['spaces', 'my folder/my file (1).txt'],
    ['+ % # ? &', 'a+b%20c#d?e=f&g'],
    ['unicode', 'users/アリス/写真/🐱.jpg'],
    ['NFC spelling', 'caf\u00e9.txt'],
    ['NFD spelling', 'cafe\u0301.txt'],
    ['dots inside names', 'users/.hidden/..x/a.b'],
    ['trailing dot segment-like name', 'a/...'],
    ['backslash', 'a\\b'],
    ['tab-free whitespace (no-break space)', 'a\u00a0b']
  ]
  for (const [name, key] of accepted) {
    t.test(`accepted: ${name}`, async (t) => {
      for (const route of [DOWNLOAD, UPLOAD]) {
        const before = app.permissions.received.length
        const body = await expectOk(t, await postAsAlice(app, route, route === UPLOAD ? { key, contentType: 'text/plain', contentLength: 1 } : { key }))
        t.equal(body.key, key, 'response key unchanged (no normalization)')
        t.equal(keyFromUrl(body.url), key, 'the URL path carries exactly the key')
        t.match(app.permissions.received[before]?.body, { key }, 'the permission service gets exactly the key')
      }
    })
  }

  t.test('NFC and NFD spellings are different keys with different URLs', async (t) => {
    const nfc = await expectOk(t, await postAsAlice(app, DOWNLOAD, { key: 'caf\u00e9' }))
    const nfd = await expectOk(t, await postAsAlice(app, DOWNLOAD, { key: 'cafe\u0301' }))
    t.not(new URL(nfc.url as string).pathname, new URL(nfd.url as string).pathname)
    t.equal(nfc.key, 'caf\u00e9')
    t.equal(nfd.key, 'cafe\u0301')
  })

  const rejected: Array<[string, string]> = [
    ['1025 ASCII bytes', 'k'.repeat(1025)],
    ['1025 bytes of 2-byte characters + 1', 'é'.repeat(512) + 'x'],
    ['1026 bytes of 3-byte characters', '€'.repeat(342)],
    ['1028 bytes of emoji', '😀'.repeat(257)],
    ['empty', ''],
    ['NUL', 'a\u0000b'],
    ['U+001F', 'a\u001fb'],
    ['DEL U+007F', 'a\u007fb'],
    ['NEL U+0085', 'a\u0085b'],
    ['newline', 'a\nb'],
    ['carriage return', 'a\rb'],
    ['tab', 'a\tb'],
    ['leading slash', '/a/b'],
    ['only a slash', '/'],
    ['empty segment', 'a//b'],
    ['dot segment', 'a/./b'],
    ['dot-dot segment', 'a/../b'],
    ['trailing slash', 'a/'],
    ['..', '..'],
    ['.', '.'],
    ['leading ./', './a'],
    ['leading ../', '../a'],
    ['trailing /..', 'a/..']
  ]
  for (const [name, key] of rejected) {
    t.test(`rejected: ${name}`, async (t) => {
      for (const route of [DOWNLOAD, UPLOAD]) {
        const before = app.permissions.received.length
        await expectProblem(t, await postAsAlice(app, route, route === UPLOAD ? { key, contentType: 'text/plain', contentLength: 1 } : { key }), 400, 'INVALID_KEY')
        t.equal(app.permissions.received.length, before, 'permission service not asked')
      }
    })
  }

  for (const raw of ['\\ud800', 'a\\ud800b', '\\udc00', 'a\\udfffz', '\\ude00\\ud83d']) {
    t.test(`rejected: lone surrogate in raw JSON "${raw}"`, async (t) => {
      const before = app.permissions.received.length
      await expectProblem(t, await postAsAlice(app, DOWNLOAD, `{"key":"${raw}"}`), 400, 'INVALID_KEY')
      await expectProblem(t, await postAsAlice(app, UPLOAD, `{"key":"${raw}","contentType":"text/plain","contentLength":1}`), 400, 'INVALID_KEY')
      t.equal(app.permissions.received.length, before)
    })
  }

  t.test('a well-formed surrogate pair in raw JSON is fine', async (t) => {
    const body = await expectOk(t, await postAsAlice(app, DOWNLOAD, '{"key":"\\ud83d\\ude00"}'))
    t.equal(body.key, '😀')
  })
})

t.test('expiresIn', async (t) => {
  const app = await build(t, { env: { SIGNED_URL_TTL_SECONDS: '120', SIGNED_URL_MAX_TTL_SECONDS: '900' } })

  for (const [route, extra] of [[DOWNLOAD, {}], [UPLOAD, { contentType: 'text/plain', contentLength: 1 }]] as const) {
    t.test(`${route}: default, 1 and the maximum`, async (t) => {
      const started = Date.now()
      const def = await expectOk(t, await postAsAlice(app, route, { key: 'a', ...extra }))
      t.equal(def.expiresIn, 120, 'SIGNED_URL_TTL_SECONDS by default')
      t.equal(urlQuery(def.url).get('X-Amz-Expires'), '120')
      for (const expiresIn of [1, 900]) {
        const body = await expectOk(t, await postAsAlice(app, route, { key: 'a', expiresIn, ...extra }))
        t.equal(body.expiresIn, expiresIn)
        t.equal(urlQuery(body.url).get('X-Amz-Expires'), String(expiresIn))
        t.ok(Math.abs(Date.parse(body.expiresAt as string) - (started + expiresIn * 1000)) < 5_000, `expiresAt ≈ now + ${expiresIn}s`)
      }
    })

    for (const expiresIn of [0, -1, 901, 3600, 604800, 604801, 1.5, 1e21]) {
      t.test(`${route}: expiresIn ${expiresIn} → 400 INVALID_EXPIRES_IN`, async (t) => {
        const before = app.permissions.received.length
        await expectProblem(t, await postAsAlice(app, route, { key: 'a', expiresIn, ...extra }), 400, 'INVALID_EXPIRES_IN')
        t.equal(app.permissions.received.length, before)
      })
    }
  }
})

t.test('request bodies', async (t) => {
  const app = await build(t)
  const token = bearer(tokenFor('alice'))

  t.test('invalid JSON → 400 INVALID_REQUEST', async (t) => {
    for (const text of ['{"key": "a"', '{key: "a"}', "{'key': 'a'}", '{"key": "a"} trailing']) {
      await expectProblem(t, await postAsAlice(app, DOWNLOAD, text), 400, 'INVALID_REQUEST')
    }
  })

  t.test('a body that is not an object → 400 INVALID_REQUEST', async (t) => {
    for (const text of ['[]', '"a"', '42', 'null', 'true']) {
      await expectProblem(t, await postAsAlice(app, DOWNLOAD, text), 400, 'INVALID_REQUEST')
    }
  })

  t.test('an empty JSON body → 400', async (t) => {
    await expectProblem(t, await postAsAlice(app, DOWNLOAD, ''), 400, 'INVALID_REQUEST')
  })

  t.test('no body at all → 400', async (t) => {
    const res = await fetch(app.url + DOWNLOAD, { method: 'POST', headers: token })
    await expectProblem(t, res, 400, 'INVALID_REQUEST')
  })

  t.test('missing key → 400', async (t) => {
    await expectProblem(t, await postAsAlice(app, DOWNLOAD, {}), 400, /^INVALID_(REQUEST|KEY)$/)
  })

  t.test('unknown properties → 400 INVALID_REQUEST', async (t) => {
    await expectProblem(t, await postAsAlice(app, DOWNLOAD, { key: 'a', Key: 'b' }), 400, 'INVALID_REQUEST')
    await expectProblem(t, await postAsAlice(app, DOWNLOAD, { key: 'a', versionId: '1' }), 400, 'INVALID_REQUEST')
  })

  t.test('a prototype-pollution key is rejected, not merged', async (t) => {
    const res = await postAsAlice(app, DOWNLOAD, '{"key":"a","__proto__":{"polluted":true}}')
    t.equal(res.status, 400)
    await res.arrayBuffer()
    t.equal(({} as Record<string, unknown>).polluted, undefined)
  })

  t.test('JSON types are not coerced: non-strings and non-integers are invalid', async (t) => {
    const cases: Array<[string, string, Body]> = [
      ['key as a number', DOWNLOAD, { key: 123 }],
      ['key as an array', DOWNLOAD, { key: ['a'] }],
      ['key as a boolean', DOWNLOAD, { key: true }],
      ['expiresIn as a string', DOWNLOAD, { key: 'a', expiresIn: '300' }],
      ['contentLength as a string', UPLOAD, { key: 'a', contentType: 'text/plain', contentLength: '10' }],
      ['contentType as an array', UPLOAD, { key: 'a', contentType: ['text/plain'] }]
    ]
    for (const [name, route, body] of cases) {
      t.test(name, async (t) => {
        const before = app.permissions.received.length
        await expectProblem(t, await postAsAlice(app, route, body), 400)
        t.equal(app.permissions.received.length, before, 'permission service not asked')
      })
    }
  })

  t.test('413 for a body over 64 KiB', async (t) => {
    const big = JSON.stringify({ key: 'a', padding: 'x'.repeat(70 * 1024) })
    const before = app.permissions.received.length
    await expectProblem(t, await postAsAlice(app, DOWNLOAD, big), 413, 'PAYLOAD_TOO_LARGE')
    await expectProblem(t, await postAsAlice(app, UPLOAD, big), 413, 'PAYLOAD_TOO_LARGE')
    t.equal(app.permissions.received.length, before)
  })

  t.test('a body just under 64 KiB is parsed (and then validated)', async (t) => {
    const justUnder = JSON.stringify({ key: 'a', padding: 'x'.repeat(60 * 1024) })
    await expectProblem(t, await postAsAlice(app, DOWNLOAD, justUnder), 400, 'INVALID_REQUEST')
  })

  const notJson: Array<[string, Record<string, string>, string | Uint8Array]> = [
    ['text/plain', { 'content-type': 'text/plain' }, '{"key":"a"}'],
    ['form', { 'content-type': 'application/x-www-form-urlencoded' }, 'key=a'],
    ['multipart', { 'content-type': 'multipart/form-data; boundary=x' }, '--x\r\nContent-Disposition: form-data; name="key"\r\n\r\na\r\n--x--\r\n'],
    ['application/xml', { 'content-type': 'application/xml' }, '<key>a</key>'],
    ['no content-type with a body', {}, new TextEncoder().encode('{"key":"a"}')]
  ]
  for (const [name, headers, body] of notJson) {
    t.test(`415 for ${name}`, async (t) => {
      const before = app.permissions.received.length
      const res = await fetch(app.url + DOWNLOAD, { method: 'POST', headers: { ...token, ...headers }, body })
      await expectProblem(t, res, 415, 'UNSUPPORTED_MEDIA_TYPE')
      t.equal(app.permissions.received.length, before)
    })
  }

  t.test('application/json with a charset is JSON', async (t) => {
    await expectOk(t, await postAsAlice(app, DOWNLOAD, { key: 'a' }, { 'content-type': 'application/json; charset=utf-8' }))
  })
})

t.test('buckets', async (t) => {
  const app = await build(t, { env: { S3_ALLOWED_BUCKETS: 'archive, backups' } })

  t.test('the default bucket and the listed ones are served', async (t) => {
    for (const bucket of [undefined, 'media', 'archive', 'backups']) {
      const body = await expectOk(t, await postAsAlice(app, DOWNLOAD, { key: 'a', ...(bucket !== undefined && { bucket }) }))
      t.equal(body.bucket, bucket ?? 'media')
      t.equal(keyFromUrl(body.url, bucket ?? 'media'), 'a')
    }
  })

  t.test('a bucket not in S3_ALLOWED_BUCKETS → 403 BUCKET_NOT_ALLOWED', async (t) => {
    const before = app.permissions.received.length
    await expectProblem(t, await postAsAlice(app, DOWNLOAD, { key: 'a', bucket: 'secrets' }), 403, 'BUCKET_NOT_ALLOWED')
    await expectProblem(t, await postAsAlice(app, UPLOAD, { key: 'a', bucket: 'secrets', contentType: 'text/plain', contentLength: 1 }), 403, 'BUCKET_NOT_ALLOWED')
    t.equal(app.permissions.received.length, before)
  })
})

t.test('Cache-Control: no-store on every /v1 answer', async (t) => {
  const app = await build(t, { env: { PERMISSIONS_TIMEOUT_MS: '100' } })
  const answers: Array<[string, () => Promise<Response>, number]> = [
    ['200', () => postAsAlice(app, DOWNLOAD, { key: 'a' }), 200],
    ['400', () => postAsAlice(app, DOWNLOAD, { key: '' }), 400],
    ['401', () => app.post(DOWNLOAD, { key: 'a' }), 401],
    ['403', () => postAsAlice(app, DOWNLOAD, { key: 'a', bucket: 'secrets' }), 403],
    ['404', () => postAsAlice(app, '/v1/unknown', { key: 'a' }), 404],
    ['413', () => postAsAlice(app, DOWNLOAD, JSON.stringify({ key: 'x'.repeat(70 * 1024) })), 413],
    ['415', () => fetch(app.url + DOWNLOAD, { method: 'POST', headers: { ...bearer(tokenFor('alice')), 'content-type': 'text/plain' }, body: 'a' }), 415]
  ]
  for (const [name, request, status] of answers) {
    const res = await request()
    t.equal(res.status, status, name)
    t.equal(res.headers.get('cache-control'), 'no-store', `${name}: no-store`)
    await res.arrayBuffer()
  }
  app.permissions.respond(() => { /* hang → 503 */ })
  const res = await postAsAlice(app, DOWNLOAD, { key: 'a' })
  t.equal(res.status, 503)
  t.equal(res.headers.get('cache-control'), 'no-store', '503: no-store')
  await res.arrayBuffer()
})
