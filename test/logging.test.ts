/**
 * Captures the logs of a full run (successes, every failure class, real storage)
 * and proves no token, storage secret or URL signature reached them.
 */
import t from 'tap'
import { buildWithStorage, signUrl } from './helpers/app.js'
import { json } from './helpers/permission-stub.js'
import { TEST_JWT_SECRET, tokenFor } from './helpers/tokens.js'
import { testStorage } from './helpers/storage.js'
import { redactSignedUrlSecrets, scrub } from '../src/logging.js'

t.test('a full run logs one line per request and never a secret', async (t) => {
  let answer: 'allow' | 'deny' | 'fail' = 'allow'
  const app = await buildWithStorage(t, {
    permissions: (_check, res) => answer === 'fail' ? json(res, 500, {}) : json(res, 200, { allowed: answer === 'allow' })
  })
  const token = tokenFor('alice')
  const secrets: string[] = [token, TEST_JWT_SECRET, testStorage().secretAccessKey]

  const upload = await signUrl(t, app, 'upload-urls', { key: 'users/alice/a.txt', contentType: 'text/plain', contentLength: 5 }, token)
  t.equal((await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: 'hello' })).status, 200)
  const download = await signUrl(t, app, 'download-urls', { key: 'users/alice/a.txt', filename: 'a.txt' }, token)
  t.equal(await (await fetch(download.url)).text(), 'hello')
  for (const url of [upload.url, download.url]) {
    const params = new URL(url).searchParams
    secrets.push(params.get('X-Amz-Signature') as string, params.get('X-Amz-Credential') as string, url)
  }

  answer = 'deny'
  t.equal((await app.post('/v1/download-urls', { key: 'users/bob/b.txt' }, { authorization: `Bearer ${token}` })).status, 403)
  answer = 'fail'
  t.equal((await app.post('/v1/download-urls', { key: 'users/alice/a.txt' }, { authorization: `Bearer ${token}` })).status, 503)
  const forged = tokenFor('mallory', { key: 'x'.repeat(32) })
  secrets.push(forged)
  t.equal((await app.post('/v1/download-urls', { key: 'a' }, { authorization: `Bearer ${forged}` })).status, 401)
  t.equal((await app.post('/v1/upload-urls', '{"key":', { authorization: `Bearer ${token}` })).status, 400)

  // Even a deliberate log call carrying a signed URL is scrubbed.
  app.app.log.info({ url: download.url, nested: { list: [upload.url] } }, `signed ${download.url}`)

  await app.app.close()
  const text = app.logText()
  for (const secret of secrets) {
    t.notOk(text.includes(secret), `the logs do not contain ${secret.slice(0, 12)}…`)
  }
  t.notOk(/X-Amz-Signature=[0-9a-f]/i.test(text), 'no signature value anywhere')
  t.notOk(text.includes('Bearer '), 'no Authorization header value')

  const completed = app.logs.filter((line) => line.msg === 'request completed')
  t.equal(completed.length, 6, 'one line per request')
  const first = completed[0] ?? {}
  t.match(first, { requestId: String, subject: 'alice', action: 'write', bucket: app.bucket, key: 'users/alice/a.txt', status: 200, durationMs: Number, permission: 'allowed' })
  t.match(completed[2], { subject: 'alice', action: 'read', key: 'users/bob/b.txt', status: 403, permission: 'denied' })
  t.match(completed[3], { status: 503, permission: 'unavailable: status 500' })
  t.match(completed[4], { status: 401 })
  t.notOk('subject' in (completed[4] ?? {}), 'an unverified token yields no subject')
})

t.test('redactSignedUrlSecrets masks signature and credential but keeps the rest', async (t) => {
  const url = 'https://h/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261125%2Fauto%2Fs3%2Faws4_request&X-Amz-Signature=abcdef0123&x-id=GetObject'
  t.equal(redactSignedUrlSecrets(url), 'https://h/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]&x-id=GetObject')
})

t.test('scrub censors credential fields at any depth and keeps errors readable', async (t) => {
  const signed = 'https://h/b/k?X-Amz-Credential=AKID%2Fx&X-Amz-Signature=deadbeef'
  const error = Object.assign(new Error(`upload to ${signed} failed`), { code: 'E_TEST' })
  const clean = scrub({
    err: error,
    headers: { Authorization: 'Bearer abc.def.ghi', 'x-request-id': 'r1' },
    deep: { a: { b: { token: 't0ken', S3_SECRET_ACCESS_KEY: 'shh', list: [{ secret: 's' }, 'plain'] } } },
    body: { key: 'k', uploadToken: 'v1.plan.mac' }
  }) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
  t.equal(clean.body.uploadToken, '[redacted]', 'a multipart uploadToken')
  t.equal(clean.headers.Authorization, '[redacted]')
  t.equal(clean.headers['x-request-id'], 'r1', 'other fields stay')
  t.equal(clean.deep.a.b.token, '[redacted]')
  t.equal(clean.deep.a.b.S3_SECRET_ACCESS_KEY, '[redacted]')
  t.same(clean.deep.a.b.list, [{ secret: '[redacted]' }, 'plain'])
  t.equal(clean.err.type, 'Error', 'an error keeps its type')
  t.equal(clean.err.code, 'E_TEST', 'and its own fields')
  t.match(clean.err.message, /^upload to https:\/\/h\/b\/k\?X-Amz-Credential=\[redacted\]&X-Amz-Signature=\[redacted\] failed$/)
  t.match(clean.err.stack, /Error: upload to/, 'and a stack')
  t.notOk(JSON.stringify(clean).includes('deadbeef'), 'no signature in message or stack')

  const untouched = { msg: 'nothing secret', nested: { n: 1, list: ['a'] } }
  t.equal(scrub(untouched), untouched, 'nothing to hide: the same object, no copy')
})
