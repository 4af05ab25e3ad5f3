/**
 * An HLS rendition for the streaming tests, made with Debian's ffmpeg (`apt-get install ffmpeg`;
 * .ci/run installs it): a generated test picture with a tone, H.264 (Main) and AAC in MPEG-TS
 * segments, the codecs hls.js plays through Media Source Extensions in Debian's headless Chromium.
 * Every segment starts with a key frame, so a seek can land on any segment.
 */
import { execFile } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
export const FFMPEG_PATH = process.env.FFMPEG_PATH ?? 'ffmpeg'

export interface HlsFile {
  /** File name, also the playlist's (relative) URI of it. */
  name: string
  path: string
  contentType: string
  size: number
}

export interface HlsRendition {
  playlist: HlsFile
  /** In playlist order. */
  segments: HlsFile[]
  segmentSeconds: number
  seconds: number
}

export interface HlsOptions {
  /** Total length; default 24 s. */
  seconds?: number
  /** Target segment length; default 2 s. */
  segmentSeconds?: number
  fps?: number
}

/** Writes `index.m3u8` and `segment000.ts`… into `dir` (which must exist and be empty). */
export async function makeHlsRendition (dir: string, options: HlsOptions = {}): Promise<HlsRendition> {
  const { seconds = 24, segmentSeconds = 2, fps = 30 } = options
  const gop = segmentSeconds * fps
  const args = [
    '-hide_banner', '-loglevel', 'error', '-nostdin', '-y',
    // testsrc draws a moving pattern with a running frame counter: a seek shows on screen.
    '-f', 'lavfi', '-i', `testsrc=size=640x360:rate=${fps}`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(seconds),
    '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'main', '-pix_fmt', 'yuv420p', '-b:v', '600k',
    // A key frame exactly at every segment boundary, none elsewhere.
    '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0',
    '-c:a', 'aac', '-b:a', '64k', '-ac', '2',
    '-f', 'hls', '-hls_time', String(segmentSeconds), '-hls_playlist_type', 'vod',
    '-hls_segment_type', 'mpegts', '-hls_segment_filename', join(dir, 'segment%03d.ts'),
    join(dir, 'index.m3u8')
  ]
  try {
    await run(FFMPEG_PATH, args, { timeout: 120_000 })
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string }
    if (failure.code === 'ENOENT') {
      throw new Error(`The HLS tests need ffmpeg (${FFMPEG_PATH} not found): install it with \`apt-get install -y --no-install-recommends ffmpeg\` (.ci/run does), or set FFMPEG_PATH.`)
    }
    throw new Error(`ffmpeg failed: ${failure.stderr?.trim() || failure.message}`)
  }

  const file = (name: string, contentType: string): HlsFile => {
    const path = join(dir, name)
    return { name, path, contentType, size: statSync(path).size }
  }
  const playlist = file('index.m3u8', 'application/vnd.apple.mpegurl')
  const listed = readFileSync(playlist.path, 'utf8').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'))
  const onDisk = readdirSync(dir).filter((name) => name.endsWith('.ts')).sort()
  if (listed.join() !== onDisk.join()) throw new Error(`ffmpeg's playlist lists ${listed.join()} but wrote ${onDisk.join()}`)
  return { playlist, segments: listed.map((name) => file(name, 'video/mp2t')), segmentSeconds, seconds }
}
