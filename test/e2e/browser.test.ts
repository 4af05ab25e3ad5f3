/**
 * The seed flows end to end in a real browser (issue #7): headless Chromium uses the example media
 * app (examples/media-app) against Ceph RGW, through r2-signer and the reference permission service.
 *
 *   User → page → media-app backend → r2-signer → presigned URL → page ↔ storage
 *
 * Upload (one PUT; multipart with parallel parts and a retried part), video streaming with seeking
 * and URL renewal, the task PDF opened inline and refused once expired, and a second user refused
 * the first user's objects. The network log proves that every byte moves between the browser and
 * storage. Screenshots of each view land in test-artifacts/browser/.
 */
import t, { type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import type { BrowserContext, Page } from 'playwright-core'
import { generateTestVideo, launchChromium, pageScripts } from '../helpers/browser.js'
import { startMediaStack } from '../helpers/media-stack.js'
import { s3Client } from '../helpers/storage.js'
import { samplePdf } from '../../examples/media-app/sample-pdf.js'

const MiB = 1024 * 1024
const MEDIA_URL_TTL = 10 // seconds: the page renews a video URL 2.5 s before it ends
const TASK_PDF_TTL = 4
const VIDEO_SECONDS = 20
const PART_SIZE = 6 * MiB
const BIG_FILE_SIZE = 20 * MiB // > the 8 MiB threshold: 4 parts (6, 6, 6, 2 MiB)
// Longer than the task list's column is wide: it must wrap there, not be cut off.
const TASK = { taskId: 'T-1024', title: 'Cut the spring launch trailer', summary: 'Everything the editor needs is in the brief.', pdfKey: 'public/tasks/T-1024/brief.pdf' }

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/browser/', import.meta.url))
mkdirSync(ARTIFACTS, { recursive: true })
const scratch = mkdtempSync(join(tmpdir(), 'r2-signer-browser-'))
t.teardown(() => rmSync(scratch, { recursive: true, force: true }))

const browser = await launchChromium()
t.teardown(() => browser.close())

const stack = await startMediaStack(t, {
  multipartThresholdBytes: 8 * MiB,
  partSizeBytes: PART_SIZE,
  partConcurrency: 3,
  mediaUrlTtlSeconds: MEDIA_URL_TTL,
  taskPdfTtlSeconds: TASK_PDF_TTL,
  tasks: [TASK]
})
const s3 = s3Client()
t.teardown(() => s3.destroy())

const pdf = samplePdf({ title: TASK.title, lines: ['Brief for the editor.', 'Length: 90 seconds. Format: 16:9.', 'Deliver by Friday.'] })
// Stored with a generic type: the signed URL itself makes storage answer application/pdf, inline.
await s3.send(new PutObjectCommand({ Bucket: stack.bucket, Key: TASK.pdfKey, Body: pdf, ContentType: 'binary/octet-stream' }))

/** Everything a browser context fetched, with where from and what came back. */
interface Exchange {
  url: string
  origin: string
  method: string
  type: string
  status: number
  range?: string
  contentType?: string
  contentLength?: number
  partNumber?: string
}

function recordNetwork (context: BrowserContext): { log: Exchange[], failed: string[] } {
  const log: Exchange[] = []
  const failed: string[] = []
  context.on('response', async (response) => {
    const request = response.request()
    const headers = await request.allHeaders().catch(() => request.headers())
    const url = new URL(request.url())
    const length = response.headers()['content-length']
    log.push({
      url: request.url(),
      origin: url.origin,
      method: request.method(),
      type: request.resourceType(),
      status: response.status(),
      range: headers.range,
      contentType: response.headers()['content-type'],
      contentLength: length === undefined ? undefined : Number(length),
      partNumber: url.searchParams.get('partNumber') ?? undefined
    })
  })
  context.on('requestfailed', (request) => failed.push(`${request.method()} ${request.url()} ${request.failure()?.errorText ?? ''}`))
  return { log, failed }
}

async function signIn (page: Page, user: string): Promise<void> {
  await page.goto(stack.appUrl)
  await page.locator('#login-user').fill(user)
  await page.locator('#login-form button[type="submit"]').click()
  await page.locator('#view-upload').waitFor({ state: 'visible' })
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
async function stored (key: string): Promise<{ body: Buffer, contentType?: string }> {
  const object = await s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }))
  return { body: Buffer.from(await object.Body!.transformToByteArray()), contentType: object.ContentType }
}
const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`) })
/** `js` runs page code with `player` = the #player video; `until` polls a condition in the page. */
const { js, until } = pageScripts('player')
/**
 * Records, at every change of the upload's percentage label, the label and the share of the track
 * its bar fills, as a person sees them (computed widths): the two must always agree.
 */
const watchProgress = (target: Page) => target.evaluate(`window.progressSeen = [];
  new MutationObserver(() => {
    const bar = document.getElementById('upload-bar').getBoundingClientRect().width
    const track = document.getElementById('upload-progress').getBoundingClientRect().width
    progressSeen.push({ label: document.getElementById('upload-percent').textContent, bar: Math.round(bar / track * 1000) / 10 })
  }).observe(document.getElementById('upload-percent'), { childList: true, characterData: true, subtree: true })`)
/** Every recorded label ("42 %") within one point of its bar; answers the labels seen. */
async function progressAgrees (t: Test, target: Page): Promise<string[]> {
  const seen = await js<Array<{ label: string, bar: number }>>(target, 'progressSeen')
  t.ok(seen.length > 0, `the label changed ${seen.length} times`)
  const off = seen.filter(({ label, bar }) => Math.abs(Number.parseFloat(label) - bar) > 1)
  t.same(off, [], `the bar always shows the label's number (${seen.slice(-3).map((s) => `${s.label} / ${s.bar}%`).join(', ')})`)
  return seen.map(({ label }) => label)
}
/** Text that fits its box: not clipped or ellipsed. */
const fits = (selector: string) => `[...document.querySelectorAll(${JSON.stringify(selector)})].map((node) => ({ text: node.textContent, fits: node.scrollWidth <= node.clientWidth && node.scrollHeight <= node.clientHeight + 1 }))`
/** Seeks the player and answers where it landed. */
const seek = (seconds: number) => `new Promise((resolve) => { player.addEventListener('seeked', () => resolve(player.currentTime), { once: true }); player.currentTime = ${seconds} })`

const alice = await browser.newContext({ viewport: { width: 1280, height: 800 } })
t.teardown(() => alice.close())
const aliceNet = recordNetwork(alice)
const page = await alice.newPage()
const pageErrors: string[] = []
page.on('pageerror', (error) => pageErrors.push(error.message))
let video: Buffer

t.test('the bucket CORS rule is applied by the example script', async (t) => {
  const rules = stack.corsRules as Array<Record<string, string[]>>
  t.equal(rules.length, 1, 'one rule')
  t.same(rules[0]?.AllowedOrigins, [stack.appUrl], 'for the page\'s origin')
  t.same([...rules[0]?.AllowedMethods ?? []].sort(), ['GET', 'HEAD', 'PUT'])
  t.same([...rules[0]?.AllowedHeaders ?? []].sort(), ['content-md5', 'content-type', 'if-none-match', 'range'], 'if-none-match: write-once uploads')
  t.same(rules[0]?.ExposeHeaders, ['ETag', 'Content-Length', 'Content-Range', 'Accept-Ranges'], 'ETag exposed (multipart needs it)')
  t.not(new URL(stack.appUrl).origin, stack.storageOrigin, 'page and storage are different origins: real CORS')
})

t.test('sign in, then upload a video with one PUT straight to storage, with progress', async (t) => {
  await page.goto(stack.appUrl)
  await page.locator('#view-login').waitFor({ state: 'visible' })
  await shot(page, '01-sign-in')

  video = await generateTestVideo(page, { seconds: VIDEO_SECONDS })
  t.ok(video.length > 3 * MiB && video.length < 8 * MiB, `a real ${VIDEO_SECONDS} s VP8 video of several MiB (${(video.length / MiB).toFixed(1)} MiB), below the multipart threshold`)
  const videoPath = join(scratch, 'launch-teaser.webm')
  writeFileSync(videoPath, video)

  await signIn(page, 'alice')
  t.equal(await page.locator('#key-prefix').textContent(), 'users/alice/', 'files go to the user\'s namespace')
  // Record what the progress bar shows while the upload runs.
  await watchProgress(page)
  await page.locator('#file-input').setInputFiles(videoPath)
  await page.locator('#upload-status[data-state="complete"]').waitFor({ timeout: 60_000 })
  t.match(await page.locator('#upload-message').textContent(), /Upload complete\. Storage confirmed .* at users\/alice\/launch-teaser\.webm/)
  t.equal(await page.locator('#upload-badge').textContent(), 'Complete')
  const progress = await progressAgrees(t, page)
  t.equal(progress.at(-1), '100 %', `the progress bar reached 100 % (${progress.slice(0, 6).join(', ')}…)`)
  t.equal(await js(page, 'document.getElementById(\'upload-bar\').getBoundingClientRect().width === document.getElementById(\'upload-progress\').getBoundingClientRect().width'), true, 'and the bar is full beside "100 %"')

  const object = await stored('users/alice/launch-teaser.webm')
  t.equal(sha256(object.body), sha256(video), 'storage holds exactly the file')
  t.equal(object.contentType, 'video/webm', 'with the type the page declared (signed)')

  const puts = aliceNet.log.filter((e) => e.method === 'PUT')
  t.same(puts.map((e) => [e.origin, e.status, e.partNumber]), [[stack.storageOrigin, 200, undefined]], 'one PUT, to storage, answered 200')
  await t.resolveMatch(page.locator('#file-list li[data-key="users/alice/launch-teaser.webm"]').textContent(), /launch-teaser\.webm/, 'listed under "Your files"')
})

t.test('a large file goes in parts: 3 at a time, a failed part is sent again, then completed', async (t) => {
  const big = randomBytes(BIG_FILE_SIZE)
  const bigPath = join(scratch, 'raw-footage.bin')
  writeFileSync(bigPath, big)

  // The network drops the first attempt of part 2.
  let dropped = 0
  const isPart2 = (url: URL) => url.origin === stack.storageOrigin && url.searchParams.get('partNumber') === '2'
  await page.route(isPart2, async (route) => {
    if (route.request().method() === 'PUT' && dropped === 0) {
      dropped++
      return route.abort('connectionreset')
    }
    return route.continue()
  })
  let inFlight = 0
  let maxInFlight = 0
  const isPartPut = (request: { method: () => string, url: () => string }) => request.method() === 'PUT' && request.url().includes('partNumber=')
  const started = (request: { method: () => string, url: () => string }) => { if (isPartPut(request)) maxInFlight = Math.max(maxInFlight, ++inFlight) }
  const ended = (request: { method: () => string, url: () => string }) => { if (isPartPut(request)) inFlight-- }
  page.on('request', started)
  page.on('requestfinished', ended)
  page.on('requestfailed', ended)

  await watchProgress(page)
  await page.locator('#file-input').setInputFiles(bigPath)
  await page.locator('#upload-status[data-state="complete"]').waitFor({ timeout: 90_000 })
  await page.unroute(isPart2)
  page.off('request', started)
  await shot(page, '02-upload-multipart')

  t.equal(await page.locator('#upload-badge').textContent(), 'Complete')
  t.equal((await progressAgrees(t, page)).at(-1), '100 %', 'label and bar agree through parts, a retry and completion')
  const parts = await js<string[][]>(page, '[...document.querySelectorAll(\'#upload-parts li\')].map((li) => [li.dataset.part, li.dataset.state, li.dataset.attempts])')
  t.same(parts, [['1', 'done', '1'], ['2', 'done', '2'], ['3', 'done', '1'], ['4', 'done', '1']], 'four parts done; part 2 on its second attempt')
  t.equal(dropped, 1, 'the first attempt of part 2 was dropped')
  t.ok(maxInFlight >= 2 && maxInFlight <= 3, `parts were sent in parallel, at most 3 at a time (${maxInFlight} at once)`)

  const partPuts = aliceNet.log.filter((e) => e.method === 'PUT' && e.partNumber !== undefined)
  t.same(partPuts.map((e) => [e.origin, e.status]), Array(4).fill([stack.storageOrigin, 200]), 'every part reached storage once, answered 200')
  const object = await stored('users/alice/raw-footage.bin')
  t.equal(object.body.length, BIG_FILE_SIZE)
  t.equal(sha256(object.body), sha256(big), 'storage assembled exactly the file')
})

/** Keys of the sidebar's highlighted rows (highlighted: the class and aria-current on its button). */
const selectedVideos = () => js<string[]>(page, `[...document.querySelectorAll('#video-list li')]
  .filter((li) => li.classList.contains('current') || li.querySelector('[aria-current]'))
  .map((li) => li.dataset.key + (li.classList.contains('current') && li.querySelector('[aria-current]') ? '' : ' (half-marked)'))`)

t.test('the video streams from storage: it plays, seeks, and survives URL renewals', async (t) => {
  // A second video, so the sidebar has a choice.
  writeFileSync(join(scratch, 'studio-tour.webm'), video)
  await page.locator('#file-input').setInputFiles(join(scratch, 'studio-tour.webm'))
  await page.locator('#upload-status[data-state="complete"]').waitFor({ timeout: 60_000 })

  await page.locator('#file-list li[data-key="users/alice/launch-teaser.webm"] a').click()
  await page.locator('#view-media').waitFor({ state: 'visible' })
  t.same(await selectedVideos(), ['users/alice/launch-teaser.webm'], 'the sidebar highlights the video being played, only it')
  await until(page, 'player.currentTime > 1', 20_000)
  t.pass('playback started and currentTime advances')
  const src0 = await js<string>(page, 'player.src')
  t.equal(new URL(src0).origin, stack.storageOrigin, '<video src> is a presigned storage URL')
  t.match(await page.locator('#media-source').textContent(), new RegExp(`Streaming from ${new URL(stack.storageOrigin).host}`))
  t.equal(await js<number>(page, 'Math.round(player.duration)'), VIDEO_SECONDS, 'the player knows the duration')

  // Seek forward, past anything the player has loaded yet.
  const seeked = await js<number>(page, seek(15))
  t.ok(Math.abs(seeked - 15) < 0.5, `the seek landed at ${seeked.toFixed(2)} s`)
  await until(page, 'player.currentTime > 15.4', 10_000)
  t.pass('and playback goes on from there')
  await shot(page, '03-media')

  // Paused at 4 s when the URL is renewed: still paused at 4 s, on a new URL.
  t.equal(await js(page, 'player.dataset.refreshes'), '0', 'no renewal yet')
  await js(page, 'player.pause()')
  await js(page, seek(4))
  await until(page, 'player.dataset.refreshes === "1" && player.readyState >= 1 && Math.abs(player.currentTime - 4) < 0.3', (MEDIA_URL_TTL + 5) * 1000)
  const afterFirst = await js<{ src: string, paused: boolean }>(page, '({ src: player.src, paused: player.paused })')
  t.not(afterFirst.src, src0, 'a fresh URL was swapped in before the old one expired')
  t.equal(afterFirst.paused, true, 'still paused, at the same position')

  // Playing when the URL is renewed: still playing, from where it was.
  await js(page, 'player.play()')
  await until(page, 'player.dataset.refreshes === "2" && !player.paused && player.currentTime > 8', (MEDIA_URL_TTL + 5) * 1000)
  const t1 = await js<number>(page, 'player.currentTime')
  await page.waitForTimeout(700)
  const t2 = await js<number>(page, 'player.currentTime')
  t.ok(t2 > t1, `still playing after the second renewal (${t1.toFixed(2)} → ${t2.toFixed(2)} s)`)
  t.match(await page.locator('#media-badge').textContent(), /renewed 2×/)

  const media = aliceNet.log.filter((e) => e.type === 'media')
  t.ok(media.length >= 3, `${media.length} media requests`)
  t.same([...new Set(media.map((e) => e.origin))], [stack.storageOrigin], 'every media request went to storage')
  t.same([...new Set(media.map((e) => e.status))].filter((s) => s !== 206 && s !== 200), [], 'all answered 200/206: no request ever used an expired URL')
  t.ok(media.some((e) => e.status === 206 && /^bytes=[1-9]\d*-/.test(e.range ?? '')), `a Range request past the start served the seek (${media.map((e) => `${e.status} ${e.range ?? ''}`).join(', ')})`)
  t.ok(new Set(media.map((e) => new URL(e.url).searchParams.get('X-Amz-Signature'))).size >= 3, 'bytes came through the first URL and both renewed ones')
  t.same([...new Set(media.map((e) => e.contentType))], ['video/webm'], 'video/webm, as uploaded')

  // Picking the other video in the sidebar: the highlight follows it.
  await page.locator('#video-list li[data-key="users/alice/studio-tour.webm"] button').click()
  await until(page, 'player.dataset.key === "users/alice/studio-tour.webm" && player.currentTime > 0.5', 20_000)
  t.same(await selectedVideos(), ['users/alice/studio-tour.webm'], 'the sidebar follows the selected video')
  t.equal(await page.locator('#media-title').textContent(), 'studio-tour.webm')
  await js(page, 'player.pause()')
})

t.test('a key with no object says "not found", and vouches for no link', async (t) => {
  await page.locator('#key-input').fill('users/alice/no-such-video.webm')
  await page.locator('#key-form button').click()
  await page.locator('#media-error').waitFor({ state: 'visible' })
  t.equal(await page.locator('#media-error').textContent(), 'Not found: storage holds no object users/alice/no-such-video.webm.')
  t.equal(await page.locator('#media-badge').isVisible(), false, 'no "Link valid" badge')
  await page.waitForTimeout(1200) // a tick of the countdown later, still none
  t.equal(await page.locator('#media-badge').isVisible(), false, 'not after the next countdown tick either')
  t.equal(await page.locator('#player').getAttribute('src'), null, 'the player is emptied')
  t.equal(await page.locator('#media-title').textContent(), 'no-such-video.webm')
  t.same(await selectedVideos(), [], 'no video in the sidebar is highlighted')
  // Storage's 404 is an XML error, which Chromium's opaque-response blocking hides from a <video>: the
  // player sees a failed request, and the page learns why from the backend's HEAD.
  const tried = [...aliceNet.log.filter((e) => e.url.includes('/users/alice/no-such-video.webm?')).map((e) => `${e.origin} ${e.status}`),
    ...aliceNet.failed.filter((line) => line.includes('/users/alice/no-such-video.webm?'))]
  t.ok(tried.length >= 1 && tried.every((line) => line.includes(stack.storageOrigin)), `the player asked storage (${tried.map((line) => line.slice(-40)).join(', ')})`)
  t.match(await (await page.request.get(`${stack.appUrl}/api/object-status?key=users/alice/no-such-video.webm`)).json(), { status: 404, exists: false }, 'which holds no such object')
  await shot(page, '04-media-not-found')
})

t.test('the task PDF opens inline from storage, and its link stops working after its TTL', async (t) => {
  await page.locator('#tabs a[data-view="task"]').click()
  await page.locator('#task-card[data-state="fresh"]').waitFor()
  const link = page.locator('#task-pdf')
  const href = await link.getAttribute('href') as string
  t.equal(new URL(href).origin, stack.storageOrigin, 'the link points at storage')
  t.equal(await page.locator('#task-title').textContent(), TASK.title)

  // The title wraps in the task list and the heading: nothing is cut off.
  const titles = await js<Array<{ text: string, fits: boolean }>>(page, fits('.task-row .file-name, #task-title'))
  t.same(titles, [{ text: TASK.title, fits: true }, { text: TASK.title, fits: true }], 'the whole title shows, in the list and the heading')
  // The preview is as wide as the content area, tall, and Chrome's viewer shows the page at 100 % or more.
  const box = await page.locator('#task-preview').boundingBox()
  t.ok(box !== null && box.width >= 900 && box.height >= 560, `a large preview (${Math.round(box?.width ?? 0)}×${Math.round(box?.height ?? 0)} px)`)
  const viewer = await pdfViewer(page, href, (state) => state.title.text === TASK.title)
  t.ok(viewer.zoom >= 100, `the page is shown at ${viewer.zoom} %, large enough to read`)
  t.same(viewer.title, { text: TASK.title, fits: true }, 'the viewer\'s toolbar shows the whole title')
  t.ok(viewer.pageShare > 0.95, `the page area takes the viewer's width, no thumbnail pane (${Math.round(viewer.pageShare * 100)} %)`)

  const [tab] = await Promise.all([alice.waitForEvent('page'), link.click()])
  await tab.waitForLoadState('domcontentloaded').catch(() => {})
  const opened = await waitFor(() => aliceNet.log.find((e) => e.url === href && e.type === 'document'))
  t.equal(opened.status, 200, 'the browser opened it')
  t.equal(opened.contentType, 'application/pdf', 'as a PDF, though stored as binary/octet-stream')
  const direct = await fetch(href)
  t.match(direct.headers.get('content-disposition'), /^inline; filename="T-1024\.pdf"/, 'inline, so the browser shows it')
  t.equal(sha256(Buffer.from(await direct.arrayBuffer())), sha256(pdf), 'the task\'s PDF')
  await shot(page, '05-task')
  await tab.waitForTimeout(300)
  await shot(tab, '06-task-pdf-tab')
  await tab.close()

  await page.locator('#task-card[data-state="expired"]').waitFor({ timeout: (TASK_PDF_TTL + 3) * 1000 })
  await page.waitForTimeout(1000) // the page counts from when it got the link, storage from signing: give storage's clock a second
  await shot(page, '07-task-expired')
  t.equal(await page.locator('#task-pdf').textContent(), 'Link expired', 'the page says the link expired')
  const late = await alice.newPage()
  const refused = await late.goto(href)
  t.equal(refused?.status(), 403, 'storage refuses the expired link')
  await late.close()

  await page.locator('#task-renew').click()
  await page.locator('#task-card[data-state="fresh"]').waitFor()
  const renewed = await link.getAttribute('href') as string
  t.not(renewed, href)
  t.equal((await fetch(renewed)).status, 200, '"Get a new link" gives a working one')
})

t.test('no byte goes through r2-signer or the backend', async (t) => {
  const signerOrigin = new URL(stack.signerUrl).origin
  const appOrigin = new URL(stack.appUrl).origin
  t.same(aliceNet.log.filter((e) => e.origin === signerOrigin), [], 'the browser never talks to r2-signer')
  const fromApp = aliceNet.log.filter((e) => e.origin === appOrigin)
  t.ok(fromApp.length > 10, `${fromApp.length} requests to the backend`)
  t.same(fromApp.filter((e) => !/^(text\/html|text\/javascript|text\/css|application\/json|application\/problem\+json)/.test(e.contentType ?? 'none') && e.status !== 204), [], 'the backend only answers the page, its code and JSON')
  t.same(fromApp.filter((e) => e.method === 'PUT'), [], 'nothing is PUT to the backend')
  t.ok(fromApp.every((e) => (e.contentLength ?? 0) < 64 * 1024), 'no large answer from the backend')
  t.same(aliceNet.log.filter((e) => e.type === 'media' || e.method === 'PUT').filter((e) => e.origin !== stack.storageOrigin), [], 'uploads and media only with storage')
  t.same(pageErrors, [], 'no script error on the page')
})

t.test('another user cannot obtain the first user\'s URLs', async (t) => {
  const bob = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  t.teardown(() => bob.close())
  const bobPage = await bob.newPage()
  await signIn(bobPage, 'bob')
  t.equal(await bobPage.locator('#file-empty').isVisible(), true, 'bob has no files')

  await bobPage.locator('#tabs a[data-view="media"]').click()
  await bobPage.locator('#key-input').fill('users/alice/launch-teaser.webm')
  await bobPage.locator('#key-form button').click()
  await bobPage.locator('#media-error').waitFor({ state: 'visible' })
  t.match(await bobPage.locator('#media-error').textContent(), /^Access denied\. Not allowed to read this object/, 'the page says no, with r2-signer\'s reason')
  t.equal(await bobPage.locator('#player').getAttribute('src'), null, 'and plays nothing')
  await shot(bobPage, '08-other-user-refused')

  const api = bobPage.request
  const forbidden = async (what: string, response: Awaited<ReturnType<typeof api.get>>) => {
    t.equal(response.status(), 403, `${what}: 403`)
    t.match(await response.json(), { code: 'PERMISSION_DENIED' }, `${what}: r2-signer's answer, relayed`)
  }
  await forbidden('a video URL for alice\'s key', await api.get(`${stack.appUrl}/api/media-url?key=users/alice/launch-teaser.webm`))
  await forbidden('recording alice\'s file as bob\'s', await api.post(`${stack.appUrl}/api/files`, { data: { key: 'users/alice/raw-footage.bin' } }))
  await forbidden('part URLs into alice\'s namespace', await api.post(`${stack.appUrl}/api/uploads/2~fake/part-urls`, { data: { key: 'users/alice/evil.bin', uploadToken: `v1.${'a'.repeat(40)}.${'b'.repeat(43)}`, partNumbers: [1] } }))
  await forbidden('aborting an upload of alice\'s', await api.delete(`${stack.appUrl}/api/uploads/2~fake?key=users/alice/evil.bin`))
  t.equal((await api.get(`${stack.appUrl}/api/v1/tasks/${TASK.taskId}`)).status(), 200, 'the public task is bob\'s to read too')
  t.equal((await fetch(`${stack.appUrl}/api/media-url?key=users/alice/launch-teaser.webm`)).status, 401, 'no session, no URL')

  const object = await stored('users/alice/launch-teaser.webm')
  t.equal(sha256(object.body), sha256(video), 'alice\'s video is untouched')
})

/**
 * What Chrome's PDF viewer shows in the preview iframe, once `ready` holds (it first shows the URL's
 * file name, then the document's title): its zoom, its toolbar title and the share of
 * its width the page area gets (the rest is the thumbnail pane). The viewer is a frame of its own (the PDF extension) under the iframe.
 */
interface PdfViewerState { zoom: number, title: { text: string, fits: boolean }, pageShare: number }
async function pdfViewer (target: Page, pdfUrl: string, ready: (state: PdfViewerState) => boolean): Promise<PdfViewerState> {
  const deadline = Date.now() + 10_000
  let last: PdfViewerState | undefined
  for (;;) {
    const frame = target.frames().find((f) => f.url().startsWith('chrome-extension://') && f.parentFrame()?.url().startsWith(pdfUrl))
    const state = await frame?.evaluate(`(() => {
      const viewer = document.querySelector('pdf-viewer')
      const toolbar = viewer?.shadowRoot?.querySelector('viewer-toolbar')?.shadowRoot
      const zoom = toolbar?.querySelector('#zoom-controls input')?.value
      const title = toolbar?.querySelector('#title')
      if (!zoom || !title?.textContent) return undefined
      const width = (id) => viewer.shadowRoot.querySelector(id)?.getBoundingClientRect().width ?? 0
      return { zoom: Number.parseFloat(zoom), title: { text: title.textContent.trim(), fits: title.scrollWidth <= title.clientWidth }, pageShare: width('#main') / width('#toolbar') }
    })()`).catch(() => undefined) as PdfViewerState | undefined
    if (state !== undefined && ready(state)) return state
    last = state ?? last
    if (Date.now() > deadline) {
      if (last !== undefined) return last // the assertions say what is off
      throw new Error('Chrome\'s PDF viewer did not show up in the preview')
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

async function waitFor<T> (find: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = find()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error('waitFor: timed out')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
