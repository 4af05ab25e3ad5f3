/**
 * A browser calls r2-signer directly (issue 13): headless Chromium on a page served from another
 * origin (a tiny static server on 127.0.0.1, another port) runs the browser snippet of docs/browser.md
 * verbatim — a multipart upload through r2-signer's API and Ceph RGW — then gets a download URL and
 * fetches the object from Ceph with it. A page on an origin not in CORS_ORIGINS is blocked by the
 * browser itself: the preflight answers without Access-Control-Allow-Origin, so the request is
 * never sent and the permission service never asked.
 */
import t from 'tap'
import { createServer, type Server } from 'node:http'
import { readFile } from 'node:fs/promises'
import { launchChromium } from '../helpers/browser.js'
import { buildWithStorage } from '../helpers/app.js'
import { testStorage } from '../helpers/storage.js'
import { tokenFor } from '../helpers/tokens.js'
import { applyCors } from '../../examples/media-app/apply-cors.js'

/** A page origin: one static HTML page on its own 127.0.0.1 port. */
async function pageServer (): Promise<string> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end('<!doctype html><meta charset="utf-8"><title>a page on another origin</title><p>calls r2-signer directly</p>')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const address = server.address() as { port: number }
  return `http://127.0.0.1:${address.port}`
}

/** The browser snippet of docs/browser.md (the code block after "In a browser (`signer()` …"), as written there. */
async function readmeBrowserSnippet (): Promise<string> {
  const readme = await readFile(new URL('../../docs/browser.md', import.meta.url), 'utf8')
  const start = readme.indexOf('In a browser (`signer()`')
  const match = /```js\n([\s\S]*?)```/.exec(readme.slice(start))
  if (start < 0 || match === null) throw new Error('docs/browser.md has no browser snippet')
  return match[1] as string
}

const allowedOrigin = await pageServer()
const otherOrigin = await pageServer()
const app = await buildWithStorage(t, { env: { CORS_ORIGINS: allowedOrigin, CORS_MAX_AGE_SECONDS: '600' } })
// The bucket lets the page use the URLs (PUT parts, read ETags, GET the object).
await applyCors({ ...testStorage(), bucket: app.bucket }, [allowedOrigin])

const browser = await launchChromium()
t.teardown(() => browser.close())
const token = tokenFor('alice')
const snippet = await readmeBrowserSnippet()

t.test('from an allowed origin: the README snippet uploads, then a download URL fetches the object from Ceph', async (t) => {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const page = await context.newPage()
  const storageRequests: string[] = []
  page.on('request', (request) => { if (request.url().startsWith(app.storageEndpoint)) storageRequests.push(request.method()) })
  await page.goto(allowedOrigin)
  const content = `hello from ${allowedOrigin} ${Date.now()}`
  const result = await page.evaluate(`(async () => {
    const SIGNER_URL = ${JSON.stringify(app.url)}
    const token = ${JSON.stringify(token)}
    ${snippet}
    const key = 'users/alice/cors/hello.txt'
    const file = new File([${JSON.stringify(content)}], 'hello.txt', { type: 'text/plain' })
    const done = await uploadLargeFile(file, key)
    const { url } = await signer('POST', '/v1/download-urls', { key })
    const object = await fetch(url)
    const direct = await fetch(SIGNER_URL + '/v1/download-urls', {
      method: 'POST',
      headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json', 'x-request-id': 'page-request-1' },
      body: JSON.stringify({ key })
    })
    let problem
    try { await signer('POST', '/v1/download-urls', { key: '/leading-slash' }) } catch (error) { problem = error.problem }
    return { done, storageOrigin: new URL(url).origin, status: object.status, text: await object.text(), requestId: direct.headers.get('x-request-id'), directStatus: direct.status, problem }
  })()`) as { done: { key: string, etag?: string }, storageOrigin: string, status: number, text: string, requestId: string | null, directStatus: number, problem?: { code: string, detail: string } }

  t.equal(result.done.key, 'users/alice/cors/hello.txt', 'the snippet completed the multipart upload')
  t.equal(result.storageOrigin, new URL(app.storageEndpoint).origin, 'the URL points at storage, not at r2-signer')
  t.equal(result.status, 200, 'Ceph served the object')
  t.equal(result.text, content, 'the bytes the page uploaded')
  t.ok(storageRequests.includes('PUT') && storageRequests.includes('GET'), `the page PUT and GET straight to storage (${storageRequests.join(', ')})`)
  t.equal(result.directStatus, 200)
  t.equal(result.requestId, 'page-request-1', 'X-Request-Id is exposed to the page')
  t.equal(result.problem?.code, 'INVALID_KEY', 'the page reads problem+json answers too')

  const preflights = app.logs.filter((line) => line.method === 'OPTIONS')
  t.ok(preflights.length > 0, `${preflights.length} preflight(s) reached r2-signer`)
  t.ok(preflights.every((line) => line.status === 204 && line.level === 30), 'each answered 204 and logged as a success (info)')
  t.ok(app.permissions.received.length > 0, 'the permission service was asked for the real requests')
})

t.test('from an origin not in CORS_ORIGINS: the browser blocks the call; nothing is asked', async (t) => {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const page = await context.newPage()
  await page.goto(otherOrigin)
  const asked = app.permissions.received.length
  const posts = app.logs.filter((line) => line.method === 'POST').length
  const outcome = await page.evaluate(`(async () => {
    try {
      const res = await fetch(${JSON.stringify(app.url + '/v1/download-urls')}, {
        method: 'POST',
        headers: { authorization: 'Bearer ' + ${JSON.stringify(token)}, 'content-type': 'application/json' },
        body: JSON.stringify({ key: 'users/alice/cors/hello.txt' })
      })
      return 'answered ' + res.status
    } catch (error) {
      return 'blocked: ' + error.name
    }
  })()`) as string
  t.equal(outcome, 'blocked: TypeError', 'fetch fails as a CORS failure does')
  t.equal(app.permissions.received.length, asked, 'the permission service was not asked')
  t.equal(app.logs.filter((line) => line.method === 'POST').length, posts, 'the POST itself was never sent')
})
