/**
 * Private HLS streaming in a real browser: headless Chromium plays, with hls.js, an HLS video whose
 * playlist and segments are private objects in Ceph RGW, through the example media app
 * (examples/media-app, "Stream (HLS)" view). What it expects of the endpoint:
 *   POST /v1/batch {items: [{op: "download", key}, …], expiresIn} with the user's JWT
 *   → 200 {items: [...]} in request order, each {status: 200, url, method: "GET", headers, bucket, key,
 *     expiresIn, expiresAt} or, refused, {status: 403, problem: {type, title, status: 403, detail,
 *     code: "PERMISSION_DENIED"}}; one item's refusal does not fail the others;
 *   the URLs are GET URLs storage accepts, valid for `expiresIn` (the item's expiresIn echoes it);
 *   r2-signer counts each call in http_request_duration_seconds{route="/v1/batch"} (GET /metrics).
 *
 * Proven here: the files are made by ffmpeg (H.264/AAC in MPEG-TS, 2 s segments) and uploaded through
 * upload URLs; playback advances; a seek lands in a later segment; every byte, the playlist included,
 * comes from storage, each segment with its own presigned URL from a batch answer; one batch call per
 * playlist load plus one per renewal (the URLs live 8 s, so they are renewed while the video plays,
 * and segments fetched after a renewal use renewed URLs); another user gets 403 items, and the player
 * says so in words. Screenshots land in test-artifacts/hls/.
 */
import t from 'tap'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BrowserContext, Page } from 'playwright-core'
import { launchChromium, pageScripts } from '../helpers/browser.js'
import { makeHlsRendition } from '../helpers/hls.js'
import { startMediaStack } from '../helpers/media-stack.js'
import { createSignerClient } from '../../examples/media-app/signer-client.js'

const SECONDS = 24
const SEGMENT_SECONDS = 2
const STREAM_URL_TTL = 8 // seconds: the page renews every segment URL 2 s before they expire
const PREFIX = 'users/alice/streams/teaser/'
const PLAYLIST_KEY = `${PREFIX}index.m3u8`

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/hls/', import.meta.url))
mkdirSync(ARTIFACTS, { recursive: true })
const scratch = mkdtempSync(join(tmpdir(), 'r2-signer-hls-'))
t.teardown(() => rmSync(scratch, { recursive: true, force: true }))

const rendition = await makeHlsRendition(scratch, { seconds: SECONDS, segmentSeconds: SEGMENT_SECONDS })
const segmentKeys = rendition.segments.map((segment) => PREFIX + segment.name)

const browser = await launchChromium()
t.teardown(() => browser.close())
const stack = await startMediaStack(t, { streamUrlTtlSeconds: STREAM_URL_TTL, mediaUrlTtlSeconds: 60 })
const signer = createSignerClient({ baseUrl: stack.signerUrl, secret: stack.jwtSecret })

/** Uploads bytes as `user` the way a browser would: an upload URL from r2-signer, then one PUT to storage. */
async function upload (user: string, key: string, body: Buffer, contentType: string): Promise<number> {
  const signed = await signer.uploadUrl(user, { key, contentType, contentLength: body.length })
  const headers = Object.fromEntries(Object.entries(signed.headers).filter(([name]) => name !== 'host' && name !== 'content-length'))
  const response = await fetch(signed.url, { method: 'PUT', headers, body })
  return response.status
}

/** r2-signer's count of /v1/batch calls answered 200, from its own metrics. */
async function batchCallsAtSigner (): Promise<number> {
  const text = await (await fetch(`${stack.signerUrl}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith('http_request_duration_seconds_count{') && l.includes('route="/v1/batch"') && l.includes('method="POST"') && l.includes('status="200"'))
  return line === undefined ? 0 : Number(line.split(' ').at(-1))
}

/** `at`: when the browser started the request (epoch ms). */
interface Exchange { url: string, origin: string, method: string, type: string, status: number, at: number }
interface BatchAnswer { at: number, keys: string[], items: Array<{ status: number, key: string, url?: string, expiresIn?: number, problem?: { code?: string, status?: number, detail?: string } }> }

function recordNetwork (context: BrowserContext): { log: Exchange[], batches: BatchAnswer[] } {
  const log: Exchange[] = []
  const batches: BatchAnswer[] = []
  context.on('response', async (response) => {
    const request = response.request()
    const url = new URL(request.url())
    log.push({ url: request.url(), origin: url.origin, method: request.method(), type: request.resourceType(), status: response.status(), at: request.timing().startTime })
    if (url.pathname === '/api/hls-urls' && response.status() === 200) {
      const body = JSON.parse(request.postData() ?? '{}') as { keys: string[] }
      batches.push({ at: Date.now(), keys: body.keys, ...(await response.json() as { items: BatchAnswer['items'] }) })
    }
  })
  return { log, batches }
}

/** `js` runs page code with `player` = the #stream-player video; `until` polls a condition in the page. */
const { js, until } = pageScripts('stream-player')
/** The recorder reads an answer's body after the page has used it: waits (up to 5 s) until `check` holds. */
async function recorded (check: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 5000; !check() && Date.now() < deadline;) await new Promise((resolve) => setTimeout(resolve, 50))
}
const seek = (seconds: number) => `new Promise((resolve) => { player.addEventListener('seeked', () => resolve(player.currentTime), { once: true }); player.currentTime = ${seconds} })`
const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`) })
/** The object key a storage URL (path style: /bucket/key) names. */
const keyOf = (url: string) => decodeURIComponent(new URL(url).pathname.split('/').slice(2).join('/'))

async function signIn (page: Page, user: string): Promise<void> {
  await page.goto(stack.appUrl)
  await page.locator('#login-user').fill(user)
  await page.locator('#login-form button[type="submit"]').click()
  await page.locator('#view-upload').waitFor({ state: 'visible' })
}
async function openStream (page: Page, key: string): Promise<void> {
  await page.locator('#tabs a[data-view="stream"]').click()
  await page.locator('#stream-key').fill(key)
  await page.locator('#stream-form button').click()
}

t.test('ffmpeg made a short HLS rendition: a VOD playlist and at least 10 segments of ~2 s', async (t) => {
  t.ok(rendition.segments.length >= 10, `${rendition.segments.length} segments`)
  const playlist = readFileSync(rendition.playlist.path, 'utf8')
  t.match(playlist, /#EXT-X-PLAYLIST-TYPE:VOD/)
  t.match(playlist, /#EXT-X-ENDLIST/)
  const durations = [...playlist.matchAll(/#EXTINF:([\d.]+),/g)].map((m) => Number(m[1]))
  t.equal(Math.round(durations.reduce((a, b) => a + b, 0)), SECONDS, 'the whole video')
  t.ok(durations.slice(0, -1).every((d) => Math.abs(d - SEGMENT_SECONDS) < 0.05), 'every segment but the last lasts 2 s')
})

t.test('the files are uploaded through upload URLs, as private objects under one prefix', async (t) => {
  t.equal(await upload('alice', PLAYLIST_KEY, readFileSync(rendition.playlist.path), rendition.playlist.contentType), 200, 'the playlist')
  const statuses = await Promise.all(rendition.segments.map((segment) => upload('alice', PREFIX + segment.name, readFileSync(segment.path), segment.contentType)))
  t.same(statuses, rendition.segments.map(() => 200), 'every segment')
  const anonymous = await fetch(`${new URL(stack.storageOrigin).origin}/${stack.bucket}/${segmentKeys[0]}`)
  t.equal(anonymous.status, 403, 'storage refuses a segment without a signature: private')
})

const alice = await browser.newContext({ viewport: { width: 1280, height: 800 } })
t.teardown(() => alice.close())
const aliceNet = recordNetwork(alice)
const page = await alice.newPage()
const pageErrors: string[] = []
page.on('pageerror', (error) => pageErrors.push(error.message))

t.test('alice streams it: playback advances, a seek lands in a later segment, links are renewed', async (t) => {
  const batchesBefore = await batchCallsAtSigner()
  await signIn(page, 'alice')
  await openStream(page, PLAYLIST_KEY)
  const opened = Date.now()
  await until(page, 'player.currentTime > 1', 20_000)
  const t1 = await js<number>(page, 'player.currentTime')
  await page.waitForTimeout(600)
  const t2 = await js<number>(page, 'player.currentTime')
  t.ok(t2 > t1, `playback advances (${t1.toFixed(2)} → ${t2.toFixed(2)} s)`)
  t.equal(await js(page, 'Math.round(player.duration)'), SECONDS, 'the player knows the duration from the playlist')
  t.equal(await page.locator('#stream-title').textContent(), 'streams/teaser/index.m3u8', 'titled by its key, without the user\'s own prefix')
  t.match(await page.locator('#stream-source').textContent(), new RegExp(`Streaming from ${new URL(stack.storageOrigin).host}`))
  t.equal(await page.locator('#stream-segments').textContent(), String(rendition.segments.length), 'the page counts the playlist\'s segments')
  await shot(page, '01-playing')

  // Seek to 17 s: segment 8 (16–18 s), beyond what the player has buffered.
  const seekAt = Date.now()
  const landed = await js<number>(page, seek(17))
  t.ok(Math.abs(landed - 17) < 0.5, `the seek landed at ${landed.toFixed(2)} s`)
  await until(page, 'player.currentTime > 17.5', 10_000)
  t.equal(await js(page, 'player.dataset.segment'), '8', 'playing segment 8 (16–18 s)')
  t.equal(await page.locator('#stream-segment').textContent(), `9 of ${rendition.segments.length}`, 'the page says so, counting from 1')
  const segment8 = aliceNet.log.find((e) => e.url.includes(`/${segmentKeys[8]}?`))
  t.ok(segment8 !== undefined && segment8.at >= seekAt, 'segment 8 was fetched after the seek')
  await shot(page, '02-seeked')

  // The URLs live 8 s: before 6 s are over, one batch call renews all of them.
  await until(page, 'player.dataset.renewals === "1"', (STREAM_URL_TTL + 4) * 1000)
  await recorded(() => aliceNet.batches.length >= 2)
  const [first, second] = aliceNet.batches
  t.ok(first !== undefined && second !== undefined && second.at - first.at < STREAM_URL_TTL * 1000, 'renewed before the first URLs expired')
  t.ok(Date.now() - opened < (STREAM_URL_TTL + 2) * 1000, 'while the video plays')
  const renewedAt = Date.now()
  // Back to 12.5 s (segment 6), never fetched so far: from here it plays to the end with renewed URLs.
  await js(page, seek(12.5))
  await until(page, 'player.currentTime > 16.5', 15_000)
  t.match(await page.locator('#stream-badge').textContent(), /^Links valid \d:\d\d · renewed [12]×$/, 'the badge counts renewals')
  await shot(page, '03-renewed')
  await js(page, 'player.pause()')

  const renewals = Number(await js(page, 'player.dataset.renewals'))
  await recorded(() => aliceNet.batches.length >= 1 + renewals)
  const batches = aliceNet.batches
  t.equal(batches.length, 1 + renewals, `one batch call for the playlist load, plus one per renewal (${renewals})`)
  t.equal(await js(page, 'player.dataset.batchCalls'), String(batches.length), 'as the page counts them')
  t.equal(await batchCallsAtSigner() - batchesBefore, batches.length, 'and as r2-signer counts them: one /v1/batch call each')
  t.same(batches[0]?.keys, segmentKeys, 'the first asks for every segment of the playlist, in order')
  t.ok(batches.slice(1).every((b) => b.keys.length === segmentKeys.length + 1 && segmentKeys.every((key) => b.keys.includes(key)) && b.keys.includes(PLAYLIST_KEY)), 'a renewal asks again for every segment (and the playlist)')
  t.ok(batches.every((b) => b.items.every((item) => item.status === 200 && item.expiresIn === STREAM_URL_TTL)), 'every item signed, with the stream\'s lifetime')

  // Every byte from storage, each segment with its own presigned URL from a batch answer.
  const playlistFetches = aliceNet.log.filter((e) => e.url.includes(`/${PLAYLIST_KEY}?`))
  t.same(playlistFetches.map((e) => [e.origin, e.status]), [[stack.storageOrigin, 200]], 'the playlist came from storage, once')
  const segmentFetches = aliceNet.log.filter((e) => segmentKeys.some((key) => e.url.includes(`/${key}?`)))
  t.same([...new Set(segmentFetches.map((e) => keyOf(e.url)))].sort(), segmentKeys, 'every segment was fetched')
  t.same(segmentFetches.filter((e) => e.origin !== stack.storageOrigin || e.status !== 200), [], 'all from storage, answered 200')
  const issued = new Map(batches.flatMap((b) => b.items.map((item) => [item.url as string, item.key])))
  t.same(segmentFetches.filter((e) => issued.get(e.url) !== keyOf(e.url)), [], 'each with a URL a batch answer issued for that very segment')
  t.ok(segmentFetches.every((e) => new URL(e.url).searchParams.get('X-Amz-Signature')), 'presigned')
  const renewedUrls = new Set(batches.slice(1).flatMap((b) => b.items.map((item) => item.url)))
  const late = segmentFetches.filter((e) => e.at > renewedAt)
  t.ok(late.length >= 1 && late.every((e) => renewedUrls.has(e.url)), `segments fetched after the renewal used renewed URLs (${late.map((e) => keyOf(e.url).slice(PREFIX.length)).join(', ')})`)

  const appOrigin = new URL(stack.appUrl).origin
  const signerOrigin = new URL(stack.signerUrl).origin
  t.same(aliceNet.log.filter((e) => e.origin === signerOrigin), [], 'the browser never talks to r2-signer')
  t.same(aliceNet.log.filter((e) => e.origin === appOrigin && !e.url.includes('/api/') && !/\/(|app\.js|styles\.css|vendor\/hls\.mjs)$/.test(new URL(e.url).pathname)), [], 'the backend serves the page, its code and JSON only')
  t.same(pageErrors, [], 'no script error on the page')
})

t.test('another user gets 403 items, and the player says so', async (t) => {
  const bob = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  t.teardown(() => bob.close())
  const bobNet = recordNetwork(bob)
  const bobPage = await bob.newPage()
  await signIn(bobPage, 'bob')

  // alice's playlist itself: r2-signer refuses bob its URL.
  await openStream(bobPage, PLAYLIST_KEY)
  await bobPage.locator('#stream-error').waitFor({ state: 'visible' })
  t.match(await bobPage.locator('#stream-error').textContent(), /^Access denied\. Not allowed to read this object/, 'the playlist: refused, in words')

  // bob's own playlist, naming his own copy of the first segment and alice's other segments.
  const borrowed = 'users/bob/streams/borrowed/'
  t.equal(await upload('bob', `${borrowed}segment000.ts`, readFileSync(rendition.segments[0]!.path), 'video/mp2t'), 200)
  const playlist = readFileSync(rendition.playlist.path, 'utf8').replace(/^(segment0(?:0[1-9]|[1-9]\d)\.ts)$/gm, '../../../alice/streams/teaser/$1')
  writeFileSync(join(scratch, 'borrowed.m3u8'), playlist)
  t.equal(await upload('bob', `${borrowed}index.m3u8`, Buffer.from(playlist), 'application/vnd.apple.mpegurl'), 200)
  const before = bobNet.log.length
  await openStream(bobPage, `${borrowed}index.m3u8`)
  await until(bobPage, '!document.getElementById(\'stream-error\').hidden && document.getElementById(\'stream-error\').textContent.includes(\'segment\')', 15_000)

  await recorded(() => bobNet.batches.length >= 1)
  t.equal(bobNet.batches.length, 1, 'one batch call')
  const answer = bobNet.batches[0]!
  t.same(answer.keys, [`${borrowed}segment000.ts`, ...segmentKeys.slice(1)], 'for every segment the playlist names')
  t.match(answer.items[0], { status: 200, key: `${borrowed}segment000.ts` }, 'his own segment: signed')
  t.same(answer.items.slice(1).map((item) => [item.status, item.problem?.status, item.problem?.code]), segmentKeys.slice(1).map(() => [403, 403, 'PERMISSION_DENIED']), 'each of alice\'s: a 403 item, the others unaffected')
  const message = await bobPage.locator('#stream-error').textContent()
  t.equal(message, `Access denied: you may not read ${segmentKeys.length - 1} of the stream's ${segmentKeys.length} files (e.g. ${segmentKeys[1]}). Not allowed to read this object.`, 'the player says which, and why')
  t.equal(await bobPage.locator('#stream-badge').isVisible(), false, 'no "links valid" badge')
  t.equal(await js(bobPage, 'player.currentTime'), 0, 'nothing plays')
  t.same(bobNet.log.slice(before).filter((e) => e.url.includes('/users/alice/')), [], 'no request for alice\'s segments reaches storage')
  await shot(bobPage, '04-other-user-refused')

  // The backend route directly: 200 with per-item answers.
  const direct = await bobPage.request.post(`${stack.appUrl}/api/hls-urls`, { data: { keys: [segmentKeys[0], `${borrowed}segment000.ts`] } })
  t.equal(direct.status(), 200)
  t.equal(direct.headers()['cache-control'], 'no-store')
  t.match(await direct.json(), { items: [{ status: 403, key: segmentKeys[0], problem: { code: 'PERMISSION_DENIED' } }, { status: 200, key: `${borrowed}segment000.ts`, url: new RegExp(`^${stack.storageOrigin}/`) }] })
})
