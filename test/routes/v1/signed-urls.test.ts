/**
 * The /v1 API surface over real HTTP: request validation (body, object keys, expiresIn,
 * upload headers, download options), the shape of successful answers and problem+json
 * errors, Cache-Control: no-store everywhere, media types, the body limit, 404s and /healthz.
 */
import { createHash } from 'node:crypto'
import t, { type Test } from 'tap'
import { build, expectProblem, type TestApp } from '../../helpers/app.js'
import { bearer, tokenFor } from '../../helpers/tokens.js'

type Body = Record<string, unknown>
const DOWNLOAD = '/v1/download-urls'
const UPLOAD = '/v1/upload-urls'
const GIB = 1024 ** 3

/** POSTs with a valid token; `body` as a string is sent as raw JSON text. */
function send (app: TestApp, route: string, body: unknown, headers: Record<string, string> = {}) {
  return app.post(route, body, { ...bearer(tokenFor('alice')), ...headers })
}

async function ok (t: Test, res: Response): Promise<Body> {
  t.equal(res.status, 200, 'status 200')
  t.match(res.headers.get('content-type'), /^application\/json/, 'application/json')
  t.equal(res.headers.get('cache-control'), 'no-store', 'no-store')
  return await res.json() as Body
}

function query (url: unknown): URLSearchParams {
  return new URL(url as string).searchParams
}

/** The object key as it appears in a path-style URL for bucket `media`. */
function keyFromUrl (url: unknown, bucket = 'media'): string {
  const { pathname } = new URL(url as string)
  if (!pathname.startsWith(`/${bucket}/`)) return `<path ${pathname} is not in bucket ${bucket}>`
  return decodeURIComponent(pathname.slice(bucket.length + 2))
}

function assertNoChecksumParams (t: Test, url: unknown) {
  for (const name of query(url).keys()) {
    t.notMatch(name, /^x-amz-(checksum|sdk-checksum)/i, `no checksum param (${name})`)
  }
  t.notMatch(url, /x-amz-checksum|x-amz-sdk-checksum/i, 'no checksum text in the URL')
}

const md5 = (text: string) => createHash('md5').update(text).digest('base64')

t.test('GET /healthz answers 200 without auth', async (t) => {
  const app = await build(t)
  const res = await fetch(`${app.url}/healthz`)
  t.equal(res.status, 200)
  t.same(await res.json(), { status: 'ok' })
  t.equal(app.permissions.received.length, 0)
})

t.test('unknown routes are 404 problem+json', async (t) => {
  const app = await build(t)
  for (const [method, path] of [['GET', '/nope'], ['POST', '/v1/nope'], ['GET', '/v1/download-urls'], ['DELETE', '/v1/upload-urls'], ['GET', '/v2/download-urls']]) {
    t.test(`${method} ${path}`, async (t) => {
      const res = await fetch(app.url + (path as string), { method, headers: bearer(tokenFor('alice')) })
      await expectProblem(t, res, 404, 'NOT_FOUND')
    })
  }
})

t.test('download URLs', async (t) => {
  const app = await build(t, { env: { SIGNED_URL_TTL_SECONDS: '300', SIGNED_URL_MAX_TTL_SECONDS: '3600' } })

  t.test('defaults: GET, default TTL, every response field', async (t) => {
    const started = Date.now()
    const body = await ok(t, await send(app, DOWNLOAD, { key: 'users/alice/photo.jpg' }))
    t.same(Object.keys(body).sort(), ['bucket', 'expiresAt', 'expiresIn', 'headers', 'key', 'method', 'url'])
    t.match(body, { method: 'GET', headers: {}, bucket: 'media', key: 'users/alice/photo.jpg', expiresIn: 300 })
    t.same(body.headers, {})
    const q = query(body.url)
    t.equal(q.get('X-Amz-Expires'), '300')
    t.equal(q.get('X-Amz-SignedHeaders'), 'host', 'only host is signed for a download')
    t.notOk(q.has('response-content-disposition'), 'no disposition unless asked')
    t.notOk(q.has('response-content-type'), 'no content type unless asked')
    t.equal(keyFromUrl(body.url), 'users/alice/photo.jpg')
    t.match(body.expiresAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/, 'RFC 3339')
    const expiresAt = Date.parse(body.expiresAt as string)
    t.ok(Math.abs(expiresAt - (started + 300_000)) < 5_000, 'expiresAt ≈ now + expiresIn')
    assertNoChecksumParams(t, body.url)
  })

  t.test('HEAD', async (t) => {
    const body = await ok(t, await send(app, DOWNLOAD, { key: 'a.txt', method: 'HEAD' }))
    t.equal(body.method, 'HEAD')
    t.same(body.headers, {})
    assertNoChecksumParams(t, body.url)
  })

  for (const method of ['PUT', 'POST', 'DELETE', 'get', '']) {
    t.test(`method ${JSON.stringify(method)} → 400`, async (t) => {
      await expectProblem(t, await send(app, DOWNLOAD, { key: 'a.txt', method }), 400, 'INVALID_REQUEST')
    })
  }

  t.test('disposition and filename → response-content-disposition (RFC 6266)', async (t) => {
    const cases: Array<[Body, string]> = [
      [{ disposition: 'inline' }, 'inline'],
      [{ disposition: 'attachment' }, 'attachment'],
      [{ filename: 'report.pdf' }, 'attachment; filename="report.pdf"'],
      [{ disposition: 'inline', filename: 'report.pdf' }, 'inline; filename="report.pdf"']
    ]
    for (const [options, expected] of cases) {
      const body = await ok(t, await send(app, DOWNLOAD, { key: 'a.pdf', ...options }))
      t.equal(query(body.url).get('response-content-disposition'), expected, JSON.stringify(options))
    }
  })

  t.test('non-ASCII filename → filename*=UTF-8\'\'… with an ASCII fallback', async (t) => {
    const body = await ok(t, await send(app, DOWNLOAD, { key: 'a.pdf', filename: 'résumé 2024.pdf' }))
    const value = query(body.url).get('response-content-disposition') as string
    t.match(value, /^attachment; /)
    t.match(value, /filename="[\x20-\x7e]*"/, 'ASCII fallback')
    t.ok(value.includes("filename*=UTF-8''r%C3%A9sum%C3%A9%202024.pdf"), `RFC 8187 value (${value})`)
  })

  t.test('filename with a quote is not emitted raw inside a quoted string', async (t) => {
    const body = await ok(t, await send(app, DOWNLOAD, { key: 'a.pdf', filename: 'say "hi".txt' }))
    const value = query(body.url).get('response-content-disposition') as string
    t.notOk(value.includes('"say "hi".txt"'), value)
    t.ok(value.includes("filename*=UTF-8''say%20%22hi%22.txt"), value)
  })

  t.test('contentType → response-content-type', async (t) => {
    const body = await ok(t, await send(app, DOWNLOAD, { key: 'a.txt', contentType: 'text/plain; charset=utf-8' }))
    t.equal(query(body.url).get('response-content-type'), 'text/plain; charset=utf-8')
  })

  const badOptions: Array<[string, Body]> = [
    ['disposition "download"', { disposition: 'download' }],
    ['filename with a slash', { filename: 'a/b.txt' }],
    ['filename with a backslash', { filename: 'a\\b.txt' }],
    ['filename with CR/LF', { filename: 'a.txt\r\nx-evil: 1' }],
    ['empty filename', { filename: '' }],
    ['contentType with CR/LF', { contentType: 'text/plain\r\nx-evil: 1' }],
    ['contentType not a media type', { contentType: 'plain' }]
  ]
  for (const [name, options] of badOptions) {
    t.test(`${name} → 400`, async (t) => {
      await expectProblem(t, await send(app, DOWNLOAD, { key: 'a.txt', ...options }), 400, 'INVALID_REQUEST')
    })
  }
})

t.test('upload URLs', async (t) => {
  const app = await build(t)

  t.test('content-type only: headers and X-Amz-SignedHeaders', async (t) => {
    const started = Date.now()
    const body = await ok(t, await send(app, UPLOAD, { key: 'users/alice/clip.mp4', contentType: 'video/mp4' }))
    t.same(Object.keys(body).sort(), ['bucket', 'expiresAt', 'expiresIn', 'headers', 'key', 'method', 'url'])
    t.match(body, { method: 'PUT', bucket: 'media', key: 'users/alice/clip.mp4', expiresIn: 300 })
    t.same(body.headers, { 'content-type': 'video/mp4' }, 'exactly content-type')
    t.same((query(body.url).get('X-Amz-SignedHeaders') as string).split(';').sort(), ['content-type', 'host'])
    t.ok(Math.abs(Date.parse(body.expiresAt as string) - (started + 300_000)) < 5_000, 'expiresAt ≈ now + expiresIn')
    assertNoChecksumParams(t, body.url)
  })

  t.test('content-type, content-length and content-md5', async (t) => {
    const contentMd5 = md5('hello')
    const body = await ok(t, await send(app, UPLOAD, { key: 'a.txt', contentType: 'text/plain; charset=utf-8', contentLength: 5, contentMd5 }))
    t.same(body.headers, { 'content-type': 'text/plain; charset=utf-8', 'content-length': '5', 'content-md5': contentMd5 })
    t.same((query(body.url).get('X-Amz-SignedHeaders') as string).split(';').sort(), ['content-length', 'content-md5', 'content-type', 'host'])
    assertNoChecksumParams(t, body.url)
  })

  t.test('content-length 0 and 5 GiB are allowed', async (t) => {
    for (const contentLength of [0, 5 * GIB]) {
      const body = await ok(t, await send(app, UPLOAD, { key: 'a.bin', contentType: 'application/octet-stream', contentLength }))
      t.same(body.headers, { 'content-type': 'application/octet-stream', 'content-length': String(contentLength) })
      t.same((query(body.url).get('X-Amz-SignedHeaders') as string).split(';').sort(), ['content-length', 'content-type', 'host'])
    }
  })

  t.test('content-md5 only', async (t) => {
    const body = await ok(t, await send(app, UPLOAD, { key: 'a.bin', contentType: 'application/octet-stream', contentMd5: md5('') }))
    t.same(body.headers, { 'content-type': 'application/octet-stream', 'content-md5': md5('') })
    t.same((query(body.url).get('X-Amz-SignedHeaders') as string).split(';').sort(), ['content-md5', 'content-type', 'host'])
  })

  const invalid: Array<[string, Body]> = [
    ['no contentType', { key: 'a' }],
    ['contentType with CR/LF injection', { key: 'a', contentType: 'text/plain\r\nx-evil: 1' }],
    ['contentType with LF', { key: 'a', contentType: 'text/plain\nx-evil: 1' }],
    ['contentType with a trailing CR/LF', { key: 'a', contentType: 'text/plain\r\n' }],
    ['contentType without subtype', { key: 'a', contentType: 'text' }],
    ['contentType empty', { key: 'a', contentType: '' }],
    ['contentType with spaces in the type', { key: 'a', contentType: 'text /plain' }],
    ['contentType non-ASCII', { key: 'a', contentType: 'text/pläin' }],
    ['contentMd5 not base64', { key: 'a', contentType: 'text/plain', contentMd5: 'not-an-md5' }],
    ['contentMd5 hex', { key: 'a', contentType: 'text/plain', contentMd5: createHash('md5').update('x').digest('hex') }],
    ['contentMd5 of 15 bytes', { key: 'a', contentType: 'text/plain', contentMd5: Buffer.alloc(15).toString('base64') }],
    ['contentMd5 of 17 bytes', { key: 'a', contentType: 'text/plain', contentMd5: Buffer.alloc(17).toString('base64') }],
    ['contentMd5 of 32 bytes (SHA-256)', { key: 'a', contentType: 'text/plain', contentMd5: createHash('sha256').update('x').digest('base64') }],
    ['contentMd5 with CR/LF', { key: 'a', contentType: 'text/plain', contentMd5: `${md5('x')}\r\nx-evil: 1` }],
    ['contentLength negative', { key: 'a', contentType: 'text/plain', contentLength: -1 }],
    ['contentLength above 5 GiB', { key: 'a', contentType: 'text/plain', contentLength: 5 * GIB + 1 }],
    ['contentLength fractional', { key: 'a', contentType: 'text/plain', contentLength: 1.5 }],
    ['unknown property (acl)', { key: 'a', contentType: 'text/plain', acl: 'public-read' }],
    ['unknown property (headers)', { key: 'a', contentType: 'text/plain', headers: { 'x-amz-acl': 'public-read' } }],
    ['download-only option', { key: 'a', contentType: 'text/plain', disposition: 'inline' }]
  ]
  for (const [name, body] of invalid) {
    t.test(`${name} → 400 INVALID_REQUEST`, async (t) => {
      const before = app.permissions.received.length
      await expectProblem(t, await send(app, UPLOAD, body), 400, 'INVALID_REQUEST')
      t.equal(app.permissions.received.length, before, 'permission service not asked')
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
        const body = await ok(t, await send(app, route, route === UPLOAD ? { key, contentType: 'text/plain' } : { key }))
        t.equal(body.key, key, 'response key unchanged (no normalization)')
        t.equal(keyFromUrl(body.url), key, 'the URL path carries exactly the key')
        t.match(app.permissions.received[before]?.body, { key }, 'the permission service gets exactly the key')
      }
    })
  }

  t.test('NFC and NFD spellings are different keys with different URLs', async (t) => {
    const nfc = await ok(t, await send(app, DOWNLOAD, { key: 'caf\u00e9' }))
    const nfd = await ok(t, await send(app, DOWNLOAD, { key: 'cafe\u0301' }))
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
        await expectProblem(t, await send(app, route, route === UPLOAD ? { key, contentType: 'text/plain' } : { key }), 400, 'INVALID_KEY')
        t.equal(app.permissions.received.length, before, 'permission service not asked')
      }
    })
  }

  for (const raw of ['\\ud800', 'a\\ud800b', '\\udc00', 'a\\udfffz', '\\ude00\\ud83d']) {
    t.test(`rejected: lone surrogate in raw JSON "${raw}"`, async (t) => {
      const before = app.permissions.received.length
      await expectProblem(t, await send(app, DOWNLOAD, `{"key":"${raw}"}`), 400, 'INVALID_KEY')
      await expectProblem(t, await send(app, UPLOAD, `{"key":"${raw}","contentType":"text/plain"}`), 400, 'INVALID_KEY')
      t.equal(app.permissions.received.length, before)
    })
  }

  t.test('a well-formed surrogate pair in raw JSON is fine', async (t) => {
    const body = await ok(t, await send(app, DOWNLOAD, '{"key":"\\ud83d\\ude00"}'))
    t.equal(body.key, '😀')
  })
})

t.test('expiresIn', async (t) => {
  const app = await build(t, { env: { SIGNED_URL_TTL_SECONDS: '120', SIGNED_URL_MAX_TTL_SECONDS: '900' } })

  for (const [route, extra] of [[DOWNLOAD, {}], [UPLOAD, { contentType: 'text/plain' }]] as const) {
    t.test(`${route}: default, 1 and the maximum`, async (t) => {
      const started = Date.now()
      const def = await ok(t, await send(app, route, { key: 'a', ...extra }))
      t.equal(def.expiresIn, 120, 'SIGNED_URL_TTL_SECONDS by default')
      t.equal(query(def.url).get('X-Amz-Expires'), '120')
      for (const expiresIn of [1, 900]) {
        const body = await ok(t, await send(app, route, { key: 'a', expiresIn, ...extra }))
        t.equal(body.expiresIn, expiresIn)
        t.equal(query(body.url).get('X-Amz-Expires'), String(expiresIn))
        t.ok(Math.abs(Date.parse(body.expiresAt as string) - (started + expiresIn * 1000)) < 5_000, `expiresAt ≈ now + ${expiresIn}s`)
      }
    })

    for (const expiresIn of [0, -1, 901, 3600, 604800, 604801, 1.5, 1e21]) {
      t.test(`${route}: expiresIn ${expiresIn} → 400 INVALID_EXPIRES_IN`, async (t) => {
        const before = app.permissions.received.length
        await expectProblem(t, await send(app, route, { key: 'a', expiresIn, ...extra }), 400, 'INVALID_EXPIRES_IN')
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
      await expectProblem(t, await send(app, DOWNLOAD, text), 400, 'INVALID_REQUEST')
    }
  })

  t.test('a body that is not an object → 400 INVALID_REQUEST', async (t) => {
    for (const text of ['[]', '"a"', '42', 'null', 'true']) {
      await expectProblem(t, await send(app, DOWNLOAD, text), 400, 'INVALID_REQUEST')
    }
  })

  t.test('an empty JSON body → 400', async (t) => {
    await expectProblem(t, await send(app, DOWNLOAD, ''), 400, 'INVALID_REQUEST')
  })

  t.test('no body at all → 400', async (t) => {
    const res = await fetch(app.url + DOWNLOAD, { method: 'POST', headers: token })
    await expectProblem(t, res, 400, 'INVALID_REQUEST')
  })

  t.test('missing key → 400', async (t) => {
    await expectProblem(t, await send(app, DOWNLOAD, {}), 400, /^INVALID_(REQUEST|KEY)$/)
  })

  t.test('unknown properties → 400 INVALID_REQUEST', async (t) => {
    await expectProblem(t, await send(app, DOWNLOAD, { key: 'a', Key: 'b' }), 400, 'INVALID_REQUEST')
    await expectProblem(t, await send(app, DOWNLOAD, { key: 'a', versionId: '1' }), 400, 'INVALID_REQUEST')
  })

  t.test('a prototype-pollution key is rejected, not merged', async (t) => {
    const res = await send(app, DOWNLOAD, '{"key":"a","__proto__":{"polluted":true}}')
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
        await expectProblem(t, await send(app, route, body), 400)
        t.equal(app.permissions.received.length, before, 'permission service not asked')
      })
    }
  })

  t.test('413 for a body over 64 KiB', async (t) => {
    const big = JSON.stringify({ key: 'a', padding: 'x'.repeat(70 * 1024) })
    const before = app.permissions.received.length
    await expectProblem(t, await send(app, DOWNLOAD, big), 413, 'PAYLOAD_TOO_LARGE')
    await expectProblem(t, await send(app, UPLOAD, big), 413, 'PAYLOAD_TOO_LARGE')
    t.equal(app.permissions.received.length, before)
  })

  t.test('a body just under 64 KiB is parsed (and then validated)', async (t) => {
    const justUnder = JSON.stringify({ key: 'a', padding: 'x'.repeat(60 * 1024) })
    await expectProblem(t, await send(app, DOWNLOAD, justUnder), 400, 'INVALID_REQUEST')
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
    await ok(t, await send(app, DOWNLOAD, { key: 'a' }, { 'content-type': 'application/json; charset=utf-8' }))
  })
})

t.test('buckets', async (t) => {
  const app = await build(t, { env: { S3_ALLOWED_BUCKETS: 'archive, backups' } })

  t.test('the default bucket and the listed ones are served', async (t) => {
    for (const bucket of [undefined, 'media', 'archive', 'backups']) {
      const body = await ok(t, await send(app, DOWNLOAD, { key: 'a', ...(bucket !== undefined && { bucket }) }))
      t.equal(body.bucket, bucket ?? 'media')
      t.equal(keyFromUrl(body.url, bucket ?? 'media'), 'a')
    }
  })

  t.test('a bucket not in S3_ALLOWED_BUCKETS → 403 BUCKET_NOT_ALLOWED', async (t) => {
    const before = app.permissions.received.length
    await expectProblem(t, await send(app, DOWNLOAD, { key: 'a', bucket: 'secrets' }), 403, 'BUCKET_NOT_ALLOWED')
    await expectProblem(t, await send(app, UPLOAD, { key: 'a', bucket: 'secrets', contentType: 'text/plain' }), 403, 'BUCKET_NOT_ALLOWED')
    t.equal(app.permissions.received.length, before)
  })
})

t.test('Cache-Control: no-store on every /v1 answer', async (t) => {
  const app = await build(t, { env: { PERMISSIONS_TIMEOUT_MS: '100' } })
  const answers: Array<[string, () => Promise<Response>, number]> = [
    ['200', () => send(app, DOWNLOAD, { key: 'a' }), 200],
    ['400', () => send(app, DOWNLOAD, { key: '' }), 400],
    ['401', () => app.post(DOWNLOAD, { key: 'a' }), 401],
    ['403', () => send(app, DOWNLOAD, { key: 'a', bucket: 'secrets' }), 403],
    ['404', () => send(app, '/v1/unknown', { key: 'a' }), 404],
    ['413', () => send(app, DOWNLOAD, JSON.stringify({ key: 'x'.repeat(70 * 1024) })), 413],
    ['415', () => fetch(app.url + DOWNLOAD, { method: 'POST', headers: { ...bearer(tokenFor('alice')), 'content-type': 'text/plain' }, body: 'a' }), 415]
  ]
  for (const [name, request, status] of answers) {
    const res = await request()
    t.equal(res.status, status, name)
    t.equal(res.headers.get('cache-control'), 'no-store', `${name}: no-store`)
    await res.arrayBuffer()
  }
  app.permissions.respond(() => { /* hang → 503 */ })
  const res = await send(app, DOWNLOAD, { key: 'a' })
  t.equal(res.status, 503)
  t.equal(res.headers.get('cache-control'), 'no-store', '503: no-store')
  await res.arrayBuffer()
})
