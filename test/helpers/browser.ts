/**
 * Headless Chromium for the browser tests: Debian's `chromium` package driven by playwright-core
 * (which downloads no browser). Missing Chromium fails the tests: they never skip.
 */
import { existsSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'
import { muxWebm, type EncodedFrame } from './webm.js'

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  // Without these Chromium opens background connections, which this machine's closed network refuses.
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Let the page start a video without a click (playwright's clicks would do, but this is steadier).
  '--autoplay-policy=no-user-gesture-required'
]

export async function launchChromium (): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`The browser tests need Chromium at ${CHROMIUM_PATH}: install it with \`apt-get install -y --no-install-recommends chromium\` (.ci/run does), or set CHROMIUM_PATH.`)
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS })
}

export interface TestVideoOptions {
  seconds: number
  width?: number
  height?: number
  fps?: number
  /** Target bits per second: with the noise band the encoder spends about this, so size ≈ bitrate × seconds / 8. */
  bitrate?: number
}

/**
 * Makes a real, playable and seekable WebM video: the page (which must be on a secure origin such as
 * http://127.0.0.1, for WebCodecs) draws frames showing their own timestamp on a canvas, Chromium's
 * VP8 encoder compresses them, and muxWebm puts them in a file with a key frame (a seek point) every second.
 */
export async function generateTestVideo (page: Page, options: TestVideoOptions): Promise<Buffer> {
  const { seconds, width = 640, height = 360, fps = 30, bitrate = 2_500_000 } = options
  // Runs in the page, as plain JavaScript: the project's TypeScript has no DOM types.
  const frames = await page.evaluate(`(async ({ seconds, width, height, fps, bitrate }) => {
    const canvas = new OffscreenCanvas(width, height)
    const g = canvas.getContext('2d')
    const chunks = []
    let failure
    const encoder = new VideoEncoder({
      output: (chunk) => {
        const bytes = new Uint8Array(chunk.byteLength)
        chunk.copyTo(bytes)
        let binary = ''
        for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
        chunks.push({ timestampUs: chunk.timestamp, key: chunk.type === 'key', data: btoa(binary) })
      },
      error: (error) => { failure = error }
    })
    encoder.configure({ codec: 'vp8', width, height, bitrate, framerate: fps, bitrateMode: 'constant' })
    const band = 72
    const noise = g.createImageData(width, band)
    const pixels = new Uint32Array(noise.data.buffer)
    const total = seconds * fps
    for (let i = 0; i < total; i++) {
      const t = i / fps
      const sky = g.createLinearGradient(0, 0, width, height)
      sky.addColorStop(0, 'hsl(' + ((220 + t * 12) % 360) + ' 70% 28%)')
      sky.addColorStop(1, 'hsl(' + ((260 + t * 12) % 360) + ' 65% 14%)')
      g.fillStyle = sky
      g.fillRect(0, 0, width, height)
      g.fillStyle = 'rgba(255,255,255,0.9)'
      g.beginPath()
      g.arc(80 + ((width - 160) * (t / seconds)), height * 0.55, 28, 0, Math.PI * 2)
      g.fill()
      g.font = '700 ' + Math.round(height / 5) + 'px sans-serif'
      g.fillText(t.toFixed(1) + ' s', width * 0.08, height * 0.35)
      g.font = '500 ' + Math.round(height / 18) + 'px sans-serif'
      g.fillText('r2-signer · test video', width * 0.08, height * 0.35 + height / 10)
      // Random noise: it cannot be compressed, so the file reaches the wanted size.
      for (let p = 0; p < pixels.length; p++) pixels[p] = (Math.random() * 0x1000000) | 0xff000000
      g.putImageData(noise, 0, height - band)
      const frame = new VideoFrame(canvas, { timestamp: Math.round(i * 1e6 / fps), duration: Math.round(1e6 / fps) })
      encoder.encode(frame, { keyFrame: i % fps === 0 })
      frame.close()
      if (encoder.encodeQueueSize > 8) await new Promise((resolve) => encoder.addEventListener('dequeue', resolve, { once: true }))
    }
    await encoder.flush()
    encoder.close()
    if (failure !== undefined) throw new Error('VideoEncoder failed: ' + failure)
    return chunks
  })(${JSON.stringify({ seconds, width, height, fps, bitrate })})`) as Array<{ timestampUs: number, key: boolean, data: string }>

  const encoded: EncodedFrame[] = frames
    .map((frame) => ({ timestampUs: frame.timestampUs, key: frame.key, data: Buffer.from(frame.data, 'base64') }))
    .sort((a, b) => a.timestampUs - b.timestampUs)
  return muxWebm({ width, height, frameDurationUs: Math.round(1e6 / fps) }, encoded)
}

/**
 * Page helpers for a page whose video element has the id `playerId` (the project's TypeScript has no
 * DOM types, so page code is a string): `js` runs an expression in the page with `player` bound to
 * that element; `until` polls a condition (the page's CSP forbids waitForFunction's eval).
 */
export function pageScripts (playerId: string) {
  const js = <T = unknown>(target: Page, code: string) =>
    target.evaluate(`(async () => { const player = document.getElementById(${JSON.stringify(playerId)}); return (${code}) })()`) as Promise<T>
  async function until (target: Page, condition: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!(await js<boolean>(target, condition))) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${condition}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  return { js, until }
}
