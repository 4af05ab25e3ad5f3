/**
 * Download `contentType` overrides against real Ceph RGW: an override outside
 * DOWNLOAD_INLINE_CONTENT_TYPES (text/html, SVG...) is served as an attachment, so storage never
 * renders an object as a page on its own origin, even when `disposition: inline` is asked; the
 * disposition is part of the signature (a URL edited back to inline is refused by storage).
 */
import t, { type Test } from 'tap'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import { s3Client } from '../../helpers/storage.js'
import { tokenFor } from '../../helpers/tokens.js'
import { buildWithStorage, configure, OFFLINE_STORAGE_ENV, signUrl, type TestApp } from '../../helpers/app.js'
import { TEST_JWT_SECRET } from '../../helpers/tokens.js'
import { inlineContentTypeMatcher, parseInlineContentTypes, DEFAULT_INLINE_CONTENT_TYPES } from '../../../src/signing/inline-content-types.js'

const token = tokenFor('alice')
const PAGE = '<!doctype html><script>fetch("/secret")</script>'

async function store (bucket: string, key: string, body: string, contentType: string): Promise<void> {
  const s3 = s3Client()
  try {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }))
  } finally {
    s3.destroy()
  }
}

/** Signs a download of `key` with `options` and fetches it from storage. */
async function download (t: Test, app: TestApp, key: string, options: object) {
  const signed = await signUrl(t, app, 'download-urls', { key, ...options }, token)
  const response = await fetch(signed.url)
  await response.arrayBuffer()
  return { url: new URL(signed.url), response }
}

t.test('an override outside the inline list is served by storage as an attachment', async (t) => {
  const app = await buildWithStorage(t)
  await store(app.bucket, 'users/alice/notes.txt', PAGE, 'text/plain')

  const cases: Array<[string, object, string, string]> = [
    ['text/html asked inline', { contentType: 'text/html', disposition: 'inline' }, 'text/html', 'attachment'],
    ['text/html with parameters, mixed case, asked inline', { contentType: 'Text/HTML; charset=utf-8', disposition: 'inline' }, 'Text/HTML; charset=utf-8', 'attachment'],
    ['text/html without any disposition', { contentType: 'text/html' }, 'text/html', 'attachment'],
    ['text/html inline with a filename (kept)', { contentType: 'text/html', disposition: 'inline', filename: 'notes.html' }, 'text/html', 'attachment; filename="notes.html"'],
    ['SVG asked inline (image/* does not match +xml)', { contentType: 'image/svg+xml', disposition: 'inline' }, 'image/svg+xml', 'attachment'],
    ['XHTML asked inline', { contentType: 'application/xhtml+xml', disposition: 'inline' }, 'application/xhtml+xml', 'attachment'],
    ['application/octet-stream asked inline', { contentType: 'application/octet-stream', disposition: 'inline' }, 'application/octet-stream', 'attachment']
  ]
  for (const [name, options, contentType, disposition] of cases) {
    const { url, response } = await download(t, app, 'users/alice/notes.txt', options)
    t.equal(url.searchParams.get('response-content-disposition'), disposition, `${name}: signed as ${disposition}`)
    t.equal(response.status, 200, `${name}: storage serves it`)
    t.equal(response.headers.get('content-disposition'), disposition, `${name}: Ceph answers Content-Disposition: ${disposition}`)
    t.equal(response.headers.get('content-type'), contentType, `${name}: with the overridden type`)
  }
})

t.test('overrides in the inline list stay inline; no override, no change', async (t) => {
  const app = await buildWithStorage(t)
  await store(app.bucket, 'users/alice/pic', 'not really an image', 'application/octet-stream')
  const cases: Array<[string, object, string | null]> = [
    ['image/png inline', { contentType: 'image/png', disposition: 'inline' }, 'inline'],
    ['video/mp4 inline', { contentType: 'video/mp4', disposition: 'inline' }, 'inline'],
    ['audio/mpeg, no disposition', { contentType: 'audio/mpeg' }, null],
    ['application/pdf inline with a filename', { contentType: 'application/pdf', disposition: 'inline', filename: 'a.pdf' }, 'inline; filename="a.pdf"'],
    ['text/plain; charset=utf-8 inline', { contentType: 'text/plain; charset=utf-8', disposition: 'inline' }, 'inline'],
    ['no override, inline', { disposition: 'inline' }, 'inline'],
    ['no override, nothing', {}, null]
  ]
  for (const [name, options, disposition] of cases) {
    const { url, response } = await download(t, app, 'users/alice/pic', options)
    t.equal(url.searchParams.get('response-content-disposition'), disposition, `${name}: signed disposition`)
    t.equal(response.status, 200, name)
    t.equal(response.headers.get('content-disposition'), disposition, `${name}: Ceph's Content-Disposition`)
  }
})

t.test('the disposition is signed: a URL edited back to inline is refused by storage', async (t) => {
  const app = await buildWithStorage(t)
  await store(app.bucket, 'users/alice/page', PAGE, 'text/plain')
  const { url } = await download(t, app, 'users/alice/page', { contentType: 'text/html', disposition: 'inline' })
  const edited = new URL(url)
  edited.searchParams.set('response-content-disposition', 'inline')
  const dropped = new URL(url)
  dropped.searchParams.delete('response-content-disposition')
  for (const [name, tampered] of [['edited to inline', edited], ['disposition removed', dropped]] as const) {
    const response = await fetch(tampered)
    await response.arrayBuffer()
    t.equal(response.status, 403, `${name}: Ceph answers 403 (signature mismatch)`)
  }
})

t.test('DOWNLOAD_INLINE_CONTENT_TYPES: the operator decides; none means never inline', async (t) => {
  const html = await buildWithStorage(t, { env: { DOWNLOAD_INLINE_CONTENT_TYPES: 'text/html, image/png' } })
  await store(html.bucket, 'users/alice/page', PAGE, 'text/plain')
  const page = await download(t, html, 'users/alice/page', { contentType: 'text/html', disposition: 'inline' })
  t.equal(page.response.headers.get('content-disposition'), 'inline', 'listed explicitly: served inline')
  const video = await download(t, html, 'users/alice/page', { contentType: 'video/mp4', disposition: 'inline' })
  t.equal(video.response.headers.get('content-disposition'), 'attachment', 'not in this list: attachment')

  const none = await buildWithStorage(t, { env: { DOWNLOAD_INLINE_CONTENT_TYPES: 'none' } })
  await store(none.bucket, 'users/alice/pic', 'x', 'image/png')
  const png = await download(t, none, 'users/alice/pic', { contentType: 'image/png', disposition: 'inline' })
  t.equal(png.response.headers.get('content-disposition'), 'attachment', 'none: every override is an attachment')
  const plain = await download(t, none, 'users/alice/pic', { disposition: 'inline' })
  t.equal(plain.response.headers.get('content-disposition'), 'inline', 'none: inline without an override is still honoured')
})

t.test('DOWNLOAD_INLINE_CONTENT_TYPES is validated; the default list', async (t) => {
  const env = { ...OFFLINE_STORAGE_ENV, JWT_SECRET: TEST_JWT_SECRET, PERMISSIONS_URL: 'http://127.0.0.1:9/check' }
  const fallback = await configure(t, env)
  t.same(fallback.app?.config.downloads.inlineContentTypes, ['image/*', 'audio/*', 'video/*', 'application/pdf', 'text/plain'])
  for (const bad of ['text', '*/*', 'text/html;charset=utf-8', ' , ', 'image/*, nope']) {
    const { error } = await configure(t, { ...env, DOWNLOAD_INLINE_CONTENT_TYPES: bad })
    t.match(error, { name: 'ConfigError', variables: ['DOWNLOAD_INLINE_CONTENT_TYPES'] }, JSON.stringify(bad))
  }
  const inline = inlineContentTypeMatcher(parseInlineContentTypes(DEFAULT_INLINE_CONTENT_TYPES) as string[])
  for (const type of ['image/png', 'IMAGE/JPEG', 'image/webp', 'video/webm', 'audio/ogg', 'application/pdf', 'text/plain; charset=utf-8']) t.ok(inline(type), `${type} inline`)
  for (const type of ['text/html', 'image/svg+xml', 'audio/x+xml', 'text/xml', 'application/xml', 'application/javascript', 'text/css', 'multipart/x-mixed-replace', 'application/octet-stream', 'text/plain-ish']) t.notOk(inline(type), `${type} not inline`)
})
