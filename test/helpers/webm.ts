/**
 * A minimal WebM (Matroska) muxer for one VP8 video track: enough for a browser to play and seek
 * a video the test encodes with WebCodecs, with no ffmpeg and no binary fixture.
 *
 * Layout: EBML header, then a Segment of known size holding Info (with Duration), Tracks, Cues
 * and one Cluster per key frame. The Cues come before the Clusters so that a player learns every
 * seek point from the first bytes and jumps to a later Cluster with one Range request.
 */

export interface EncodedFrame {
  /** Presentation time in microseconds. */
  timestampUs: number
  key: boolean
  data: Buffer
}

export interface WebmTrack {
  width: number
  height: number
  /** Frame duration in microseconds (DefaultDuration); the last frame lasts this long. */
  frameDurationUs: number
}

const ID = {
  EBML: 0x1a45dfa3,
  EBMLVersion: 0x4286,
  EBMLReadVersion: 0x42f7,
  EBMLMaxIDLength: 0x42f2,
  EBMLMaxSizeLength: 0x42f3,
  DocType: 0x4282,
  DocTypeVersion: 0x4287,
  DocTypeReadVersion: 0x4285,
  Segment: 0x18538067,
  Info: 0x1549a966,
  TimecodeScale: 0x2ad7b1,
  Duration: 0x4489,
  MuxingApp: 0x4d80,
  WritingApp: 0x5741,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackUID: 0x73c5,
  TrackType: 0x83,
  FlagLacing: 0x9c,
  DefaultDuration: 0x23e383,
  CodecID: 0x86,
  Video: 0xe0,
  PixelWidth: 0xb0,
  PixelHeight: 0xba,
  Cues: 0x1c53bb6b,
  CuePoint: 0xbb,
  CueTime: 0xb3,
  CueTrackPositions: 0xb7,
  CueTrack: 0xf7,
  CueClusterPosition: 0xf1,
  Cluster: 0x1f43b675,
  Timecode: 0xe7,
  SimpleBlock: 0xa3
} as const

/** Element IDs already carry their length marker: written as their minimal big-endian bytes. */
function idBytes (id: number): Buffer {
  const bytes: number[] = []
  for (let value = id; value > 0; value = Math.floor(value / 256)) bytes.unshift(value & 0xff)
  return Buffer.from(bytes)
}

/** An EBML variable-size integer (element data size), in `length` bytes or the fewest that fit. */
function vint (value: number, length?: number): Buffer {
  let size = length ?? 1
  // eslint-disable-next-line no-unmodified-loop-condition -- `size` changes; `length` only says whether to grow
  while (length === undefined && value >= 2 ** (7 * size) - 1) size++
  const out = Buffer.alloc(size)
  let rest = value
  for (let i = size - 1; i >= 0; i--) {
    out[i] = rest % 256
    rest = Math.floor(rest / 256)
  }
  out[0] = (out[0] as number) | (0x80 >> (size - 1))
  return out
}

function uint (value: number, width?: number): Buffer {
  let size = width ?? 1
  // eslint-disable-next-line no-unmodified-loop-condition -- `size` changes; `width` only says whether to grow
  while (width === undefined && value >= 2 ** (8 * size)) size++
  const out = Buffer.alloc(size)
  let rest = value
  for (let i = size - 1; i >= 0; i--) {
    out[i] = rest % 256
    rest = Math.floor(rest / 256)
  }
  return out
}

function element (id: number, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload)
  return Buffer.concat([idBytes(id), vint(body.length), body])
}

const uintElement = (id: number, value: number, width?: number) => element(id, uint(value, width))
const stringElement = (id: number, value: string) => element(id, Buffer.from(value, 'utf8'))
function floatElement (id: number, value: number): Buffer {
  const body = Buffer.alloc(8)
  body.writeDoubleBE(value)
  return element(id, body)
}

/** Muxes VP8 frames (in presentation order, the first one a key frame) into a seekable WebM file. */
export function muxWebm (track: WebmTrack, frames: EncodedFrame[]): Buffer {
  if (frames.length === 0 || !frames[0]?.key) throw new Error('muxWebm: the first frame must be a key frame')
  const ms = (us: number) => Math.round(us / 1000) // TimecodeScale 1 ms

  const header = element(ID.EBML,
    uintElement(ID.EBMLVersion, 1), uintElement(ID.EBMLReadVersion, 1),
    uintElement(ID.EBMLMaxIDLength, 4), uintElement(ID.EBMLMaxSizeLength, 8),
    stringElement(ID.DocType, 'webm'), uintElement(ID.DocTypeVersion, 2), uintElement(ID.DocTypeReadVersion, 2))

  const last = frames[frames.length - 1] as EncodedFrame
  const info = element(ID.Info,
    uintElement(ID.TimecodeScale, 1_000_000),
    floatElement(ID.Duration, (last.timestampUs + track.frameDurationUs) / 1000),
    stringElement(ID.MuxingApp, 'r2-signer test muxer'), stringElement(ID.WritingApp, 'r2-signer test muxer'))

  const tracks = element(ID.Tracks, element(ID.TrackEntry,
    uintElement(ID.TrackNumber, 1), uintElement(ID.TrackUID, 1), uintElement(ID.TrackType, 1),
    uintElement(ID.FlagLacing, 0), uintElement(ID.DefaultDuration, track.frameDurationUs * 1000),
    stringElement(ID.CodecID, 'V_VP8'),
    element(ID.Video, uintElement(ID.PixelWidth, track.width), uintElement(ID.PixelHeight, track.height))))

  // One Cluster per group of pictures; block times are 16-bit offsets from the Cluster's time.
  const clusters: Array<{ timeMs: number, bytes: Buffer }> = []
  let group: EncodedFrame[] = []
  const flush = () => {
    if (group.length === 0) return
    const timeMs = ms((group[0] as EncodedFrame).timestampUs)
    const blocks = group.map((frame) => {
      const relative = Buffer.alloc(2)
      relative.writeInt16BE(ms(frame.timestampUs) - timeMs)
      return element(ID.SimpleBlock, vint(1), relative, Buffer.from([frame.key ? 0x80 : 0x00]), frame.data)
    })
    clusters.push({ timeMs, bytes: element(ID.Cluster, uintElement(ID.Timecode, timeMs), ...blocks) })
    group = []
  }
  for (const frame of frames) {
    if (frame.key) flush()
    group.push(frame)
  }
  flush()

  // Cluster positions are relative to the Segment's data and depend on the Cues' own size, so the
  // positions are written with a fixed width: the Cues' size is then known before the positions are.
  const cues = (positions: number[]) => element(ID.Cues, ...clusters.map((cluster, i) => element(ID.CuePoint,
    uintElement(ID.CueTime, cluster.timeMs),
    element(ID.CueTrackPositions, uintElement(ID.CueTrack, 1), uintElement(ID.CueClusterPosition, positions[i] ?? 0, 8)))))
  let position = info.length + tracks.length + cues([]).length
  const positions = clusters.map((cluster) => {
    const at = position
    position += cluster.bytes.length
    return at
  })
  const body = Buffer.concat([info, tracks, cues(positions), ...clusters.map((cluster) => cluster.bytes)])
  return Buffer.concat([header, idBytes(ID.Segment), vint(body.length, 8), body])
}
