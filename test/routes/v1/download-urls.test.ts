/**
 * POST /v1/download-urls over real HTTP: GET and HEAD URLs, response overrides (disposition,
 * filename, content type) and their validation. Rules shared with upload URLs (keys,
 * expiresIn, bodies, buckets) are in ./signed-urls.test.ts.
 */
import t from 'tap'
import { build, expectOk, expectProblem, postAsAlice } from '../../helpers/app.js'
import { assertNoChecksumParams, keyFromUrl, urlQuery } from '../../helpers/signed-urls.js'

type Body = Record<string, unknown>
const DOWNLOAD = '/v1/download-urls'

t.test('download URLs', async (t) => {
  const app = await build(t, { env: { SIGNED_URL_TTL_SECONDS: '300', SIGNED_URL_MAX_TTL_SECONDS: '3600' } })

  t.test('defaults: GET, default TTL, every response field', async (t) => {
    const started = Date.now()
    const body = await expectOk(t, await postAsAlice(app, DOWNLOAD, { key: 'users/alice/photo.jpg' }))
    t.same(Object.keys(body).sort(), ['bucket', 'expiresAt', 'expiresIn', 'headers', 'key', 'method', 'url'])
    t.match(body, { method: 'GET', headers: {}, bucket: 'media', key: 'users/alice/photo.jpg', expiresIn: 300 })
    t.same(body.headers, {})
    const q = urlQuery(body.url)
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
    const body = await expectOk(t, await postAsAlice(app, DOWNLOAD, { key: 'a.txt', method: 'HEAD' }))
    t.equal(body.method, 'HEAD')
    t.same(body.headers, {})
    assertNoChecksumParams(t, body.url)
  })

  for (const method of ['PUT', 'POST', 'DELETE', 'get', '']) {
    t.test(`method ${JSON.stringify(method)} → 400`, async (t) => {
      await expectProblem(t, await postAsAlice(app, DOWNLOAD, { key: 'a.txt', method }), 400, 'INVALID_REQUEST')
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
      const body = await expectOk(t, await postAsAlice(app, DOWNLOAD, { key: 'a.pdf', ...options }))
      t.equal(urlQuery(body.url).get('response-content-disposition'), expected, JSON.stringify(options))
    }
  })

  t.test('non-ASCII filename → filename*=UTF-8\'\'… with an ASCII fallback', async (t) => {
    const body = await expectOk(t, await postAsAlice(app, DOWNLOAD, { key: 'a.pdf', filename: 'résumé 2024.pdf' }))
    const value = urlQuery(body.url).get('response-content-disposition') as string
    t.match(value, /^attachment; /)
    t.match(value, /filename="[\x20-\x7e]*"/, 'ASCII fallback')
    t.ok(value.includes("filename*=UTF-8''r%C3%A9sum%C3%A9%202024.pdf"), `RFC 8187 value (${value})`)
  })

  t.test('filename with a quote is not emitted raw inside a quoted string', async (t) => {
    const body = await expectOk(t, await postAsAlice(app, DOWNLOAD, { key: 'a.pdf', filename: 'say "hi".txt' }))
    const value = urlQuery(body.url).get('response-content-disposition') as string
    t.notOk(value.includes('"say "hi".txt"'), value)
    t.ok(value.includes("filename*=UTF-8''say%20%22hi%22.txt"), value)
  })

  t.test('contentType → response-content-type', async (t) => {
    const body = await expectOk(t, await postAsAlice(app, DOWNLOAD, { key: 'a.txt', contentType: 'text/plain; charset=utf-8' }))
    t.equal(urlQuery(body.url).get('response-content-type'), 'text/plain; charset=utf-8')
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
      await expectProblem(t, await postAsAlice(app, DOWNLOAD, { key: 'a.txt', ...options }), 400, 'INVALID_REQUEST')
    })
  }
})
