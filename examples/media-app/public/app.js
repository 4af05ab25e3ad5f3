// Media desk: the browser side of the r2-signer example. A plain ES module, no build step.
//
// The page only ever talks to its own backend (/api/…) and, with the URLs the backend hands out,
// straight to storage: uploads are PUT there, videos stream from there, PDFs open from there.

const MAX_PART_ATTEMPTS = 3
const RETRY_DELAY_MS = 400
/** Fetch a fresh video URL when this share of its lifetime is left (at most a minute before it ends). */
const RENEW_SHARE = 0.25

const $ = (id) => document.getElementById(id)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const state = { user: null, files: [], tasks: null, uploading: false }

// --- talking to the backend ---------------------------------------------------------------------

class ApiError extends Error {
  constructor (status, problem) {
    super(problem.detail || problem.title || `The server answered ${status}`)
    this.status = status
    this.problem = problem
  }
}

async function api (path, { method = 'GET', body } = {}) {
  let response
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
  } catch {
    throw new ApiError(0, { title: 'The backend cannot be reached. Check your connection.' })
  }
  if (response.status === 204) return undefined
  const json = await response.json().catch(() => ({}))
  if (!response.ok) {
    if (response.status === 401 && state.user !== null) signedOut()
    throw new ApiError(response.status, json)
  }
  return json
}

/** The words a person should read for an error. */
function explain (error) {
  if (error instanceof ApiError && error.status === 403) return `Access denied. ${error.message}`
  return error.message || String(error)
}

// --- formatting ------------------------------------------------------------------------------------

function formatBytes (bytes) {
  if (bytes < 1024) return `${bytes} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`
}

function formatDuration (ms) {
  const seconds = Math.max(0, Math.ceil(ms / 1000))
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`
}

function el (tag, props = {}, ...children) {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(props)) {
    if (name === 'dataset') Object.assign(node.dataset, value)
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value)
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name === 'className' ? 'class' : name, value === true ? '' : value)
  }
  node.append(...children.filter((child) => child !== undefined && child !== null))
  return node
}

function show (node, visible) { node.hidden = !visible }

function alertBox (node, kind, text) {
  node.className = `alert ${kind}`
  node.textContent = text
  show(node, true)
}

// --- views and sign-in ------------------------------------------------------------------------------

const VIEWS = ['upload', 'media', 'stream', 'task']

function route () {
  const signedIn = state.user !== null
  show($('booting'), false)
  show($('tabs'), signedIn)
  show($('account'), signedIn)
  const view = !signedIn ? 'login' : VIEWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'upload'
  for (const name of ['login', ...VIEWS]) show($(`view-${name}`), name === view)
  for (const link of document.querySelectorAll('#tabs a')) {
    if (link.dataset.view === view) link.setAttribute('aria-current', 'page')
    else link.removeAttribute('aria-current')
  }
  document.body.dataset.view = view
  // Leaving the player: stop the sound (the URL keeps being renewed, so it resumes where it was).
  if (view !== 'media' && !player.paused) player.pause()
  if (view !== 'stream' && !streamPlayer.paused) streamPlayer.pause()
  if (view === 'task' && state.tasks === null) void loadTasks()
}

function signedIn (user) {
  state.user = user
  $('user-name').textContent = user
  $('avatar').textContent = user.slice(0, 1).toUpperCase()
  $('key-prefix').textContent = `users/${user}/`
  $('key-input').placeholder = `users/${user}/clip.webm`
  $('stream-key').placeholder = `users/${user}/streams/teaser/index.m3u8`
  void loadFiles()
  route()
}

function signedOut () {
  state.user = null
  state.files = []
  state.tasks = null
  stopVideo()
  stopStream()
  route()
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault()
  const user = $('login-user').value.trim()
  show($('login-error'), false)
  try {
    await api('/api/login', { method: 'POST', body: { user } })
    signedIn(user)
  } catch (error) {
    alertBox($('login-error'), 'error', explain(error))
  }
})

$('logout').addEventListener('click', async () => {
  await api('/api/logout', { method: 'POST' }).catch(() => {})
  signedOut()
})

window.addEventListener('hashchange', route)

// --- upload -----------------------------------------------------------------------------------------

$('file-input').addEventListener('change', (event) => {
  const file = event.target.files?.[0]
  event.target.value = ''
  if (file) void startUpload(file)
})

const dropzone = $('dropzone')
dropzone.addEventListener('dragover', (event) => { event.preventDefault(); dropzone.classList.add('over') })
dropzone.addEventListener('dragleave', () => dropzone.classList.remove('over'))
dropzone.addEventListener('drop', (event) => {
  event.preventDefault()
  dropzone.classList.remove('over')
  const file = event.dataTransfer?.files?.[0]
  if (file) void startUpload(file)
})

/** The status panel of the upload in progress. */
function uploadPanel (file) {
  const panel = $('upload-status')
  const started = performance.now()
  let total = file.size
  panel.dataset.state = 'uploading'
  show(panel, true)
  show($('upload-message'), false)
  show($('upload-parts'), false)
  show($('upload-parts-note'), false)
  $('upload-parts').replaceChildren()
  $('upload-name').textContent = file.name
  const badge = (text, kind) => { $('upload-badge').textContent = text; $('upload-badge').className = `badge ${kind}` }
  badge('Preparing', 'neutral')

  const ui = {
    progress (loaded) {
      const share = total === 0 ? 1 : Math.min(1, loaded / total)
      // One number for the bar and its label, so they never disagree.
      const percent = Math.floor(share * 100)
      $('upload-bar').style.width = `${percent}%`
      $('upload-progress').setAttribute('aria-valuenow', String(percent))
      $('upload-percent').textContent = `${percent} %`
      const seconds = (performance.now() - started) / 1000
      const speed = seconds > 0.2 ? ` · ${formatBytes(loaded / seconds)}/s` : ''
      $('upload-detail').textContent = `${formatBytes(loaded)} of ${formatBytes(total)}${speed}`
    },
    single () { badge('Uploading', 'active') },
    multipart (count, partSize, concurrency) {
      badge(`Multipart · ${count} parts`, 'active')
      const parts = $('upload-parts')
      for (let n = 1; n <= count; n++) {
        parts.append(el('li', { dataset: { part: String(n), state: 'waiting', attempts: '0' }, title: `Part ${n} · ${formatBytes(Math.min(partSize, file.size - (n - 1) * partSize))}` }, String(n)))
      }
      show(parts, true)
      $('upload-parts-note').textContent = `${count} parts of ${formatBytes(partSize)}, sent ${concurrency} at a time`
      show($('upload-parts-note'), true)
    },
    part (n, partState, attempts) {
      const item = $('upload-parts').querySelector(`[data-part="${n}"]`)
      item.dataset.state = partState
      item.dataset.attempts = String(attempts)
      item.title = `Part ${n} · ${partState}${attempts > 1 ? ` (attempt ${attempts})` : ''}`
      const retried = [...$('upload-parts').children].filter((li) => li.dataset.state === 'retrying' || Number(li.dataset.attempts) > 1).length
      if (retried > 0) $('upload-parts-note').textContent = `${$('upload-parts').children.length} parts, ${retried} sent again after a failure`
    },
    finishing () { badge('Finishing', 'active'); $('upload-detail').textContent = 'Storage is assembling the parts…' },
    complete (saved) {
      total = saved.size
      ui.progress(saved.size)
      panel.dataset.state = 'complete'
      badge('Complete', 'success')
      $('upload-detail').textContent = `${formatBytes(saved.size)} in ${((performance.now() - started) / 1000).toFixed(1)} s`
      const message = $('upload-message')
      alertBox(message, 'success', '')
      message.append(el('strong', {}, 'Upload complete. '), `Storage confirmed ${formatBytes(saved.size)} at `, el('code', {}, saved.key), '.')
      if (saved.contentType.startsWith('video/')) {
        message.append(' ', el('a', { href: '#media', onclick: () => { void openVideo(saved.key, { autoplay: true }) } }, 'Play it'))
      }
    },
    fail (error) {
      panel.dataset.state = 'error'
      badge('Failed', 'danger')
      alertBox($('upload-message'), 'error', `Upload failed: ${explain(error)}`)
    }
  }
  return ui
}

async function startUpload (file) {
  if (state.uploading) return
  state.uploading = true
  dropzone.classList.add('busy')
  $('file-input').disabled = true
  const ui = uploadPanel(file)
  try {
    const plan = await api('/api/uploads', {
      method: 'POST',
      body: { name: file.name, contentType: file.type || 'application/octet-stream', size: file.size }
    })
    const saved = plan.mode === 'single' ? await uploadSingle(file, plan, ui) : await uploadMultipart(file, plan, ui)
    ui.complete(saved)
    state.files = [saved, ...state.files.filter((f) => f.key !== saved.key)]
    renderFiles()
  } catch (error) {
    ui.fail(error)
  } finally {
    state.uploading = false
    dropzone.classList.remove('busy')
    $('file-input').disabled = false
  }
}

/** One PUT with the presigned URL; storage answers 200 once it holds the whole file. */
async function uploadSingle (file, plan, ui) {
  ui.single()
  ui.progress(0)
  await put(plan.url, file, plan.headers, (loaded) => ui.progress(loaded)).done
  // Storage confirmed; the backend checks it too before recording the file.
  const { file: saved } = await api('/api/files', { method: 'POST', body: { key: plan.key } })
  return saved
}

/**
 * Multipart: every part but the last is exactly partSize bytes; `concurrency` parts are in flight
 * at a time, each with a URL fetched just before it is sent (so slow uploads never hold a stale
 * one), and a failed part is sent again up to MAX_PART_ATTEMPTS times. Storage assembles the
 * object on "complete"; if anything fails for good the upload is aborted so storage frees the parts.
 */
async function uploadMultipart (file, plan, ui) {
  // uploadToken: r2-signer's binding of this upload's plan; sent back with every part-urls and complete call.
  const { uploadId, key, partSize, uploadToken } = plan
  const count = Math.max(1, Math.ceil(file.size / partSize))
  const base = `/api/uploads/${encodeURIComponent(uploadId)}`
  const loaded = new Array(count + 1).fill(0)
  const etags = []
  const inFlight = new Set()
  let next = 1
  let failed = false
  const concurrency = Math.min(plan.concurrency ?? 3, count)
  ui.multipart(count, partSize, concurrency)
  ui.progress(0)
  const report = () => ui.progress(loaded.reduce((a, b) => a + b, 0))

  async function sendPart (n) {
    const blob = file.slice((n - 1) * partSize, Math.min(n * partSize, file.size))
    for (let attempt = 1; ; attempt++) {
      ui.part(n, 'uploading', attempt)
      try {
        const { headers, parts: [signed] } = await api(`${base}/part-urls`, { method: 'POST', body: { key, uploadToken, partNumbers: [n] } })
        const request = put(signed.url, blob, headers, (bytes) => { loaded[n] = bytes; report() })
        inFlight.add(request)
        const xhr = await request.done.finally(() => inFlight.delete(request))
        const etag = xhr.getResponseHeader('ETag')
        if (!etag) {
          const error = new Error('storage did not expose the ETag header: the bucket CORS rule must list it in ExposeHeaders (npm run cors:apply)')
          error.fatal = true
          throw error
        }
        loaded[n] = blob.size
        report()
        ui.part(n, 'done', attempt)
        return etag
      } catch (error) {
        loaded[n] = 0
        report()
        const permanent = error.fatal || failed || (error instanceof ApiError && error.status >= 400 && error.status < 500)
        if (permanent || attempt >= MAX_PART_ATTEMPTS) {
          ui.part(n, 'failed', attempt)
          throw error
        }
        ui.part(n, 'retrying', attempt)
        await sleep(RETRY_DELAY_MS * attempt)
      }
    }
  }

  async function worker () {
    // eslint-disable-next-line no-unmodified-loop-condition -- a sibling worker sets `failed`
    while (!failed && next <= count) {
      const n = next++
      etags[n] = await sendPart(n)
    }
  }

  try {
    await Promise.all(Array.from({ length: concurrency }, worker))
  } catch (error) {
    failed = true
    for (const request of inFlight) request.abort()
    await api(`${base}?key=${encodeURIComponent(key)}`, { method: 'DELETE' }).catch(() => {})
    throw error
  }
  ui.finishing()
  const parts = etags.map((etag, partNumber) => ({ partNumber, etag })).filter((part) => part.etag !== undefined)
  const { file: saved } = await api(`${base}/complete`, { method: 'POST', body: { key, uploadToken, parts } })
  return saved
}

/**
 * A PUT with XMLHttpRequest, which (unlike fetch) reports upload progress. `headers` are the ones
 * r2-signer signed (none for a part: its URL signs only its length); the browser sets
 * Content-Length itself, from the Blob, and sends a part's bytes without a Content-Type.
 */
function put (url, body, headers, onProgress) {
  const xhr = new XMLHttpRequest()
  const done = new Promise((resolve, reject) => {
    xhr.open('PUT', url)
    for (const [name, value] of Object.entries(headers)) {
      if (name !== 'content-length' && name !== 'host') xhr.setRequestHeader(name, value)
    }
    xhr.upload.addEventListener('progress', (event) => onProgress(event.loaded))
    xhr.addEventListener('load', () => {
      if (xhr.status === 200) resolve(xhr)
      else reject(new Error(`storage answered ${xhr.status}${xhr.status === 403 ? ' (the URL expired or does not match the upload)' : ''}`))
    })
    xhr.addEventListener('error', () => reject(new Error('the connection to storage failed (or the bucket CORS rule does not allow this page)')))
    xhr.addEventListener('abort', () => reject(new Error('cancelled')))
    xhr.send(body)
  })
  return { done, abort: () => xhr.abort() }
}

// --- files ------------------------------------------------------------------------------------------

async function loadFiles () {
  try {
    state.files = (await api('/api/files')).files
  } catch {
    state.files = []
  }
  renderFiles()
}

const isPlaylist = (contentType) => /^(application\/vnd\.apple\.mpegurl|application\/x-mpegurl|audio\/mpegurl)\b/i.test(contentType)

function fileIcon (contentType) {
  if (contentType.startsWith('video/') || isPlaylist(contentType)) return 'video'
  if (contentType === 'application/pdf') return 'pdf'
  if (contentType.startsWith('image/')) return 'image'
  return 'file'
}

function renderFiles () {
  const list = $('file-list')
  list.replaceChildren(...state.files.map((file) => el('li', { dataset: { key: file.key } },
    el('span', { className: `file-icon ${fileIcon(file.contentType)}`, 'aria-hidden': 'true' }),
    el('span', { className: 'file-main' },
      el('span', { className: 'file-name' }, file.name),
      el('span', { className: 'muted small' }, `${formatBytes(file.size)} · ${file.contentType} · ${new Date(file.uploadedAt).toLocaleTimeString()}`)),
    file.contentType.startsWith('video/')
      ? el('a', { className: 'button small secondary', href: '#media', onclick: () => { void openVideo(file.key, { autoplay: true }) } }, 'Play')
      : isPlaylist(file.contentType)
        ? el('a', { className: 'button small secondary', href: '#stream', onclick: () => { void openStream(file.key) } }, 'Stream')
        : el('button', { type: 'button', className: 'small secondary', onclick: () => void openFile(file.key) }, 'Open')
  )))
  show($('file-empty'), state.files.length === 0)

  const videos = state.files.filter((file) => file.contentType.startsWith('video/'))
  $('video-list').replaceChildren(...videos.map((file) => el('li', { dataset: { key: file.key } },
    el('button', { type: 'button', className: 'file-row', onclick: () => void openVideo(file.key, { autoplay: true }) },
      el('span', { className: 'file-icon video', 'aria-hidden': 'true' }),
      el('span', { className: 'file-main' },
        el('span', { className: 'file-name' }, file.name),
        el('span', { className: 'muted small' }, formatBytes(file.size)))))))
  show($('video-empty'), videos.length === 0)
  markSelectedVideo()
}

/** The sidebar follows the video being shown: its row is highlighted (and scrolled into view), no other. */
function markSelectedVideo () {
  const key = selectedVideo
  for (const row of $('video-list').children) {
    const current = key !== null && row.dataset.key === key
    row.classList.toggle('current', current)
    row.querySelector('.file-row')?.toggleAttribute('aria-current', current)
    if (current) row.scrollIntoView({ block: 'nearest' })
  }
}

async function openFile (key) {
  const tab = window.open('about:blank', '_blank')
  try {
    const { url } = await api(`/api/media-url?key=${encodeURIComponent(key)}`)
    if (tab) tab.location.href = url
  } catch (error) {
    tab?.close()
    alertBox($('upload-message'), 'error', explain(error))
    show($('upload-status'), true)
  }
}

// --- media ------------------------------------------------------------------------------------------

const player = $('player')
/**
 * The video being shown: { key, url, expiresIn, expiresAtLocal, refreshes, recoveries, loaded }.
 * `loaded` turns true once storage served the video: only then does the page call its link valid.
 */
let media = null
let renewTimer = null
/** The key the person picked last: the sidebar highlights it while it loads and while it plays. */
let selectedVideo = null

async function openVideo (key, { autoplay = false } = {}) {
  location.hash = '#media'
  show($('media-error'), false)
  selectedVideo = key
  markSelectedVideo()
  let signed
  try {
    signed = await api(`/api/media-url?key=${encodeURIComponent(key)}`)
  } catch (error) {
    if (selectedVideo !== key) return // the person picked another video meanwhile
    stopVideo()
    alertBox($('media-error'), 'error', explain(error))
    $('media-title').textContent = key.split('/').pop()
    return
  }
  if (selectedVideo !== key) return
  media = { key, refreshes: 0, recoveries: 0, loaded: false }
  setVideoUrl(signed)
  player.src = signed.url
  player.dataset.key = key
  player.dataset.refreshes = '0'
  show($('player-empty'), false)
  player.classList.add('ready')
  $('media-title').textContent = key.split('/').pop()
  $('media-source').textContent = `Streaming from ${new URL(signed.url).host} (storage), not from this app's server`
  if (autoplay) player.play().catch(() => {}) // the browser may want a click first; the controls are there
}

/** Remembers a freshly signed URL and plans the next renewal before it runs out. */
function setVideoUrl (signed) {
  // The local clock may differ from the server's: count from now with the URL's lifetime.
  media.url = signed.url
  media.expiresIn = signed.expiresIn
  media.expiresAtLocal = Date.now() + signed.expiresIn * 1000
  clearTimeout(renewTimer)
  const margin = Math.min(60, signed.expiresIn * RENEW_SHARE) * 1000
  renewTimer = setTimeout(() => void renewVideoUrl(), Math.max(0, signed.expiresIn * 1000 - margin))
  tick()
}

/**
 * Swaps in a fresh URL before the old one expires, so the next Range request the player makes
 * is signed: same position, same paused/playing state, same speed.
 */
async function renewVideoUrl () {
  const current = media
  if (current === null) return
  let signed
  try {
    signed = await api(`/api/media-url?key=${encodeURIComponent(current.key)}`)
  } catch (error) {
    if (media === current) alertBox($('media-error'), 'error', `Could not renew the video link: ${explain(error)}`)
    return
  }
  if (media !== current) return
  const position = player.currentTime
  const paused = player.paused
  const rate = player.playbackRate
  current.refreshes++
  setVideoUrl(signed)
  player.dataset.refreshes = String(current.refreshes)
  player.addEventListener('loadedmetadata', () => {
    player.currentTime = position
    player.playbackRate = rate
    if (!paused) player.play().catch(() => {})
  }, { once: true })
  player.src = signed.url
}

player.addEventListener('loadedmetadata', () => {
  if (media === null || media.loaded) return
  media.loaded = true
  tick()
})

/**
 * The player says only "error", not why. Ask the backend what storage holds (a HEAD URL, no bytes):
 * a missing object is "not found"; a link that expired anyway (e.g. the laptop slept through the
 * renewal) is renewed and playback carries on, twice at most.
 */
player.addEventListener('error', async () => {
  const current = media
  if (current === null || !player.getAttribute('src')) return
  let status
  try {
    ({ status } = await api(`/api/object-status?key=${encodeURIComponent(current.key)}`))
  } catch (error) {
    status = error.status
  }
  if (media !== current) return
  if (status === 404) return videoFailed(current.key, `Not found: storage holds no object ${current.key}.`)
  if (status === 403) return videoFailed(current.key, `Access denied to ${current.key}.`)
  if (current.recoveries >= 2) return videoFailed(current.key, 'The video could not be loaded from storage.')
  current.recoveries++
  void renewVideoUrl()
})

/** Nothing to play: no player, no link badge, the reason in words. */
function videoFailed (key, message) {
  stopVideo()
  $('media-title').textContent = key.split('/').pop()
  alertBox($('media-error'), 'error', message)
}

function stopVideo () {
  media = null
  clearTimeout(renewTimer)
  player.removeAttribute('src')
  player.load()
  player.classList.remove('ready')
  delete player.dataset.key
  show($('player-empty'), true)
  show($('media-badge'), false)
  $('media-title').textContent = 'No video selected'
  $('media-source').textContent = ''
  selectedVideo = null
  markSelectedVideo()
}

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const key = $('key-input').value.trim()
  if (key) void openVideo(key)
})

// --- HLS streaming -----------------------------------------------------------------------------------
//
// hls.js plays a playlist whose segments are private objects. Its loader (StorageLoader below) reads
// the playlist through a presigned GET URL, asks the backend for URLs of every key the playlist names
// in ONE call (r2-signer's batch endpoint behind it), and rewrites the playlist to those URLs. Before a
// quarter of their lifetime is left, all of them are renewed with one more batch call; a segment is
// always fetched with the newest URL for its key. Every byte comes straight from storage.

const streamPlayer = $('stream-player')
/** The stream being shown: { key, hls, urls: Map(key → {url, expiresIn, expiresAtLocal}), keyOf: Map(url → key), batchCalls, renewals, failure, loaded }. */
let stream = null
let Hls = null

/** A refusal to explain in words: which keys, and r2-signer's reason. */
class StreamError extends Error {
  constructor (message, status) {
    super(message)
    this.status = status
  }
}

/** The object key a playlist URI names, relative to the playlist's own key (as a browser resolves a path). */
function keyOfUri (uri, playlistKey) {
  if (/^[a-z][a-z\d+.-]*:/i.test(uri) || uri.startsWith('//')) {
    throw new StreamError(`The playlist names ${uri}: only keys relative to the playlist can be signed.`, 400)
  }
  const base = new URL(playlistKey.split('/').map(encodeURIComponent).join('/'), 'https://key.invalid/')
  const resolved = new URL(uri.split(/[?#]/)[0], base)
  return resolved.pathname.slice(1).split('/').map(decodeURIComponent).join('/')
}

/** One backend call (one r2-signer batch) for `keys`; remembers the URLs, plans their renewal. */
async function signStreamKeys (current, keys) {
  current.batchCalls++
  streamStats(current)
  const { items } = await api('/api/hls-urls', { method: 'POST', body: { keys } })
  const refused = items.filter((item) => item.status !== 200)
  if (refused.length > 0) {
    const first = refused[0]
    const reason = first.problem?.detail || first.problem?.title || `refused (${first.status})`
    const what = `${refused.length} of the stream's ${items.length} files`
    throw new StreamError(first.status === 403
      ? `Access denied: you may not read ${what} (e.g. ${first.key}). ${reason}`
      : `Could not get links for ${what} (e.g. ${first.key}): ${reason}`, first.status)
  }
  const now = Date.now()
  for (const item of items) {
    // hls.js keeps asking for the URL the playlist was rewritten to: only that first one needs mapping back.
    if (!current.urls.has(item.key)) current.keyOf.set(item.url, item.key)
    current.urls.set(item.key, { url: item.url, expiresIn: item.expiresIn, expiresAtLocal: now + item.expiresIn * 1000 })
  }
  planStreamRenewal(current)
  streamStats(current)
}

/** Renews every URL of the stream, in one batch call, when a quarter of the shortest lifetime is left. */
function planStreamRenewal (current) {
  clearTimeout(current.renewTimer)
  const lifetimes = [...current.urls.values()]
  const soonest = Math.min(...lifetimes.map((entry) => entry.expiresAtLocal - entry.expiresIn * RENEW_SHARE * 1000))
  current.renewTimer = setTimeout(async () => {
    if (stream !== current) return
    try {
      await signStreamKeys(current, [...current.urls.keys()])
      current.renewals++
      streamStats(current)
    } catch (error) {
      if (stream === current) alertBox($('stream-error'), 'error', `Could not renew the stream's links: ${explain(error)}`)
    }
  }, Math.max(0, soonest - Date.now()))
}

/** Rewrites every URI of a playlist (segments, init segments, variant playlists) to its presigned URL. */
async function signPlaylist (current, text, playlistKey) {
  const lines = text.split(/\r?\n/)
  const keys = new Set()
  const rewrite = (uri) => {
    const key = keyOfUri(uri, playlistKey)
    keys.add(key)
    return () => current.urls.get(key).url
  }
  const rewritten = lines.map((line) => {
    const trimmed = line.trim()
    if (trimmed === '') return () => line
    if (!trimmed.startsWith('#')) return rewrite(trimmed)
    const uris = [...trimmed.matchAll(/URI="([^"]*)"/g)].map((match) => [match[0], rewrite(match[1])])
    return () => uris.reduce((out, [attribute, url]) => out.replace(attribute, `URI="${url()}"`), line)
  })
  if (keys.size > 0) await signStreamKeys(current, [...keys])
  return rewritten.map((line) => line()).join('\n')
}

/** hls.js's loader for playlists and segments: the newest URL for each key; playlists get signed URIs. */
function storageLoader (current) {
  return class StorageLoader extends Hls.DefaultConfig.loader {
    load (context, config, callbacks) {
      const key = current.keyOf.get(context.url)
      if (key !== undefined) context.url = current.urls.get(key).url
      if (context.type !== 'manifest' && context.type !== 'level' && context.type !== 'audioTrack' && context.type !== 'subtitleTrack') {
        return super.load(context, config, callbacks)
      }
      const playlistKey = key ?? current.key
      const onSuccess = callbacks.onSuccess
      super.load(context, config, {
        ...callbacks,
        onSuccess: (response, stats, loaded, details) => {
          signPlaylist(current, String(response.data), playlistKey).then((data) => {
            if (stream === current) onSuccess({ ...response, data }, stats, loaded, details)
          }, (error) => {
            current.failure = error
            if (stream === current) callbacks.onError({ code: error.status ?? 0, text: error.message }, loaded, details, stats)
          })
        }
      })
    }
  }
}

/** A key as its owner thinks of it: without the own users/<name>/ prefix. */
const streamName = (key) => key.startsWith(`users/${state.user}/`) ? key.slice(`users/${state.user}/`.length) : key

async function openStream (key) {
  location.hash = '#stream'
  stopStream()
  $('stream-key').value = key
  $('stream-title').textContent = streamName(key)
  let playlist
  try {
    playlist = await api(`/api/media-url?key=${encodeURIComponent(key)}`)
    Hls ??= (await import('/vendor/hls.mjs')).default
  } catch (error) {
    return streamFailed(key, explain(error))
  }
  if (!Hls.isSupported()) return streamFailed(key, 'This browser cannot play HLS (no Media Source Extensions).')
  const current = { key, urls: new Map(), keyOf: new Map(), batchCalls: 0, renewals: 0, failure: null, loaded: false }
  current.urls.set(key, { url: playlist.url, expiresIn: playlist.expiresIn, expiresAtLocal: Date.now() + playlist.expiresIn * 1000 })
  current.keyOf.set(playlist.url, key)
  stream = current
  const loader = storageLoader(current)
  // A modest buffer: segments are fetched as playback nears them, with whatever URL is current then.
  const hls = new Hls({ enableWorker: false, pLoader: loader, fLoader: loader, maxBufferLength: 10, maxMaxBufferLength: 20 })
  current.hls = hls
  hls.on(Hls.Events.MANIFEST_PARSED, (_event, data) => {
    current.segments = data.levels[0]?.details?.fragments?.length
    streamStats(current)
  })
  hls.on(Hls.Events.LEVEL_LOADED, (_event, data) => {
    current.segments = data.details.fragments.length
    streamStats(current)
  })
  hls.on(Hls.Events.FRAG_CHANGED, (_event, data) => {
    streamPlayer.dataset.segment = String(data.frag.sn)
    $('stream-segment').textContent = `${Number(data.frag.sn) + 1} of ${current.segments ?? '…'}`
  })
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (!data.fatal || stream !== current) return
    const status = data.response?.code
    const what = data.details === 'manifestLoadError' ? 'the playlist' : 'a segment'
    let message = `The stream could not be played (${data.details}).`
    if (current.failure) message = explain(current.failure)
    else if (status) message = `Storage answered ${status} for ${what}${status === 404 ? ' (not found)' : ''}.`
    streamFailed(key, message)
  })
  streamPlayer.dataset.key = key
  streamPlayer.dataset.segment = ''
  show($('stream-empty'), false)
  streamPlayer.classList.add('ready')
  $('stream-source').textContent = `Streaming from ${new URL(playlist.url).host} (storage), not from this app's server`
  show($('stream-stats'), true)
  streamStats(current)
  hls.loadSource(playlist.url)
  hls.attachMedia(streamPlayer)
  streamPlayer.play().catch(() => {}) // the browser may want a click first; the controls are there
}

streamPlayer.addEventListener('loadeddata', () => {
  if (stream === null) return
  stream.loaded = true
  tick()
})

function streamStats (current) {
  if (stream !== current) return
  streamPlayer.dataset.batchCalls = String(current.batchCalls)
  streamPlayer.dataset.renewals = String(current.renewals)
  $('stream-segments').textContent = current.segments === undefined ? '…' : String(current.segments)
  $('stream-batches').textContent = current.renewals > 0 ? `${current.batchCalls} (${current.renewals} renewal${current.renewals > 1 ? 's' : ''})` : String(current.batchCalls)
  tick()
}

/** Nothing to play: the reason in words, no player, no link badge. */
function streamFailed (key, message) {
  stopStream()
  $('stream-title').textContent = streamName(key)
  alertBox($('stream-error'), 'error', message)
}

function stopStream () {
  if (stream !== null) {
    clearTimeout(stream.renewTimer)
    stream.hls?.destroy()
  }
  stream = null
  streamPlayer.removeAttribute('src')
  streamPlayer.load()
  streamPlayer.classList.remove('ready')
  delete streamPlayer.dataset.key
  show($('stream-empty'), true)
  show($('stream-badge'), false)
  show($('stream-error'), false)
  show($('stream-stats'), false)
  $('stream-segment').textContent = '–'
  $('stream-title').textContent = 'No stream selected'
  $('stream-source').textContent = ''
}

$('stream-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const key = $('stream-key').value.trim()
  if (key) void openStream(key)
})

// --- tasks ------------------------------------------------------------------------------------------

let task = null

async function loadTasks () {
  try {
    state.tasks = (await api('/api/v1/tasks')).tasks
  } catch {
    state.tasks = []
  }
  $('task-list').replaceChildren(...state.tasks.map((item) => el('li', {},
    el('button', { type: 'button', className: 'task-row', dataset: { task: item.taskId }, onclick: () => void openTask(item.taskId) },
      el('span', { className: 'file-icon pdf', 'aria-hidden': 'true' }),
      el('span', { className: 'file-main' },
        el('span', { className: 'file-name' }, item.title),
        el('span', { className: 'muted small' }, item.taskId))))))
  show($('task-empty'), state.tasks.length === 0)
  if (task === null && state.tasks.length > 0) void openTask(state.tasks[0].taskId)
}

async function openTask (taskId) {
  for (const row of document.querySelectorAll('.task-row')) row.classList.toggle('current', row.dataset.task === taskId)
  let details
  try {
    details = await api(`/api/v1/tasks/${encodeURIComponent(taskId)}`)
  } catch (error) {
    show($('task-card'), false)
    show($('task-preview-card'), false)
    show($('task-placeholder'), true)
    $('task-placeholder').replaceChildren(el('p', { className: 'alert error' }, explain(error)))
    return
  }
  task = { ...details, expiresAtLocal: Date.now() + details.expiresIn * 1000 }
  $('task-id').textContent = `Task ${details.taskId}`
  $('task-title').textContent = details.title
  $('task-summary').textContent = details.summary ?? ''
  const link = $('task-pdf')
  link.href = details.descriptionPdfUrl
  link.classList.remove('expired')
  link.removeAttribute('aria-disabled')
  link.textContent = 'Open description (PDF)'
  // Chrome's viewer: no thumbnail pane, the page fitted to the frame's width (a fragment is not sent, nor signed).
  $('task-preview').src = `${details.descriptionPdfUrl}#navpanes=0&view=FitH`
  show($('task-renew'), false)
  show($('task-card'), true)
  show($('task-preview-card'), true)
  show($('task-placeholder'), false)
  $('task-card').dataset.state = 'fresh'
  $('task-layout').dataset.state = 'fresh'
  tick()
}

$('task-renew').addEventListener('click', () => { if (task) void openTask(task.taskId) })

// --- link countdowns ----------------------------------------------------------------------------

function tick () {
  const now = Date.now()
  // The badge vouches for the link only once storage has served the video through it.
  show($('media-badge'), media !== null && media.loaded)
  if (media !== null && media.loaded) {
    const left = media.expiresAtLocal - now
    const badge = $('media-badge')
    badge.textContent = `Link valid ${formatDuration(left)}${media.refreshes > 0 ? ` · renewed ${media.refreshes}×` : ''}`
    badge.className = `badge ${left < media.expiresIn * 1000 * RENEW_SHARE ? 'warning' : 'success'}`
    show(badge, true)
  }
  show($('stream-badge'), stream !== null && stream.loaded)
  if (stream !== null && stream.loaded) {
    const soonest = [...stream.urls.values()].reduce((a, b) => a.expiresAtLocal <= b.expiresAtLocal ? a : b)
    const left = soonest.expiresAtLocal - now
    const badge = $('stream-badge')
    badge.textContent = `Links valid ${formatDuration(left)}${stream.renewals > 0 ? ` · renewed ${stream.renewals}×` : ''}`
    badge.className = `badge ${left < soonest.expiresIn * 1000 * RENEW_SHARE ? 'warning' : 'success'}`
  }
  if (task !== null) {
    const left = task.expiresAtLocal - now
    const countdown = $('task-countdown')
    if (left > 0) {
      countdown.textContent = `Link valid for ${formatDuration(left)}`
      countdown.className = `countdown ${left < 30_000 ? 'warning' : ''}`
    } else if ($('task-card').dataset.state !== 'expired') {
      // The URL now gets 403 from storage: say so instead of offering a dead link.
      $('task-card').dataset.state = 'expired'
      $('task-layout').dataset.state = 'expired'
      const link = $('task-pdf')
      link.removeAttribute('href')
      link.setAttribute('aria-disabled', 'true')
      link.classList.add('expired')
      link.textContent = 'Link expired'
      countdown.textContent = 'Links to the PDF are short-lived. Get a new one to open it again.'
      countdown.className = 'countdown muted'
      show($('task-renew'), true)
    }
  }
}
setInterval(tick, 1000)

// --- start ------------------------------------------------------------------------------------------

try {
  const { user } = await api('/api/me')
  if (user) signedIn(user)
  else route()
} catch {
  route()
}
