// In-memory, path-style (/bucket/key) S3 subset for `npm run dev`: enough for r2-signer's presigned
// URLs (GET/HEAD/PUT/DELETE, multipart) to work end to end without an account or a container.
// Every request must carry a valid SigV4 signature (dev/sigv4-verify.ts); limits follow R2.
// Like AWS S3 (and unlike Ceph RGW 16), an x-amz-* header the signature does not cover is refused
// (403 AccessDenied), so a presigned URL cannot be turned into a copy, an ACL change or new metadata:
// dev mode is a store that passes r2-signer's storage self-test.
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as zlib from 'node:zlib'
import { parseQuery, verifySigV4 } from './sigv4-verify.js'

export interface S3EmulatorOptions {
  host?: string
  /** 0 (default) = any free port; see `endpoint`. */
  port?: number
  accessKeyId: string
  secretAccessKey: string
  region: string
  buckets: string[]
  /** Objects present at start, by "bucket/key". */
  seed?: Record<string, { body: Buffer | string; contentType: string }>
}

export interface S3Emulator {
  /** e.g. http://127.0.0.1:9000 (use path-style addressing). */
  endpoint: string
  close(): Promise<void>
}

interface StoredObject {
  body: Buffer
  etag: string // quoted, as sent in the ETag header
  lastModified: Date
  /** content-type, content-disposition, cache-control, … and x-amz-meta-*, as given on upload. */
  headers: Record<string, string>
}

interface Upload {
  bucket: string
  key: string
  headers: Record<string, string>
  parts: Map<number, StoredObject>
}

const MiB = 1024 * 1024
const MAX_BODY_BYTES = 512 * MiB // memory guard for a dev tool; S3/R2 allow 5 GiB
const MIN_PART_BYTES = 5 * MiB // S3 and R2: every part but the last
const STORED_HEADERS = ['content-type', 'content-disposition', 'content-encoding', 'content-language', 'cache-control', 'expires']
// GET ?response-content-type=… etc. override the stored header in the answer.
const RESPONSE_OVERRIDES = STORED_HEADERS.map((h) => [`response-${h}`, h] as const)
const EXPOSED_HEADERS = 'ETag, Content-Length, Content-Range, Accept-Ranges'
const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/'

/** An S3 error answered as XML (`<Error><Code>…`). */
class S3Error extends Error {
  constructor (
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, string> = {},
    readonly headers: Record<string, string> = {}
  ) {
    super(message)
  }
}

export async function startS3Emulator (opts: S3EmulatorOptions): Promise<S3Emulator> {
  const buckets = new Map<string, Map<string, StoredObject>>(opts.buckets.map((b) => [b, new Map()]))
  const uploads = new Map<string, Upload>()

  for (const [path, { body, contentType }] of Object.entries(opts.seed ?? {})) {
    const slash = path.indexOf('/')
    const objects = buckets.get(path.slice(0, slash))
    if (slash < 1 || slash === path.length - 1 || !objects) throw new Error(`seed "${path}" is not "<known bucket>/<key>"`)
    objects.set(path.slice(slash + 1), makeObject(Buffer.from(body), { 'content-type': contentType }))
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!(err instanceof S3Error)) console.error('s3-emulator:', err)
      sendError(req, res, err instanceof S3Error ? err : new S3Error(500, 'InternalError', String(err)))
    })
  })

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('x-amz-request-id', randomBytes(8).toString('hex').toUpperCase())
    // Permissive CORS: dev only, so a browser app on any origin can use presigned URLs.
    res.setHeader('access-control-allow-origin', '*')
    res.setHeader('access-control-expose-headers', EXPOSED_HEADERS)
    if (req.method === 'OPTIONS') return preflight(req, res)

    const url = req.url ?? '/'
    const auth = verifySigV4(
      { method: req.method ?? 'GET', url, headers: req.headersDistinct },
      { region: opts.region, secretFor: (id) => (id === opts.accessKeyId ? opts.secretAccessKey : undefined) }
    )
    if (!auth.ok) throw new S3Error(auth.status, auth.code, auth.message, auth.details)

    const q = url.indexOf('?')
    const query = new Map((parseQuery(q < 0 ? '' : url.slice(q + 1)) ?? []).reverse()) // first occurrence wins
    const { bucket, key } = parsePath(q < 0 ? url : url.slice(0, q))
    if (bucket === '') throw notImplemented() // ListBuckets
    const objects = buckets.get(bucket)
    if (!objects) throw new S3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket })
    // Presigned URLs carry x-amz-* "headers" (checksums, metadata) as query parameters.
    const amz = (name: string) => header(req, name) ?? query.get(name)
    const ctx: Ctx = { req, res, query, bucket, key, objects, amz, payloadHash: auth.payloadHash }

    const method = req.method
    if (key === '') {
      if (method === 'HEAD') return void res.writeHead(200, { 'x-amz-bucket-region': opts.region }).end()
      if (method === 'GET' && query.get('list-type') === '2') return listObjectsV2(ctx)
      throw notImplemented()
    }
    if (method === 'GET' && query.has('uploadId')) return listParts(ctx)
    if (method === 'GET' || method === 'HEAD') return getObject(ctx)
    if (method === 'PUT' && query.has('uploadId')) return uploadPart(ctx)
    if (method === 'PUT' && header(req, 'x-amz-copy-source')) throw notImplemented()
    if (method === 'PUT') return putObject(ctx)
    if (method === 'POST' && query.has('uploads')) return createMultipartUpload(ctx)
    if (method === 'POST' && query.has('uploadId')) return completeMultipartUpload(ctx)
    if (method === 'DELETE' && query.has('uploadId')) return abortMultipartUpload(ctx)
    if (method === 'DELETE') {
      objects.delete(key) // S3 answers 204 whether or not the key existed
      return void res.writeHead(204).end()
    }
    throw new S3Error(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.')
  }

  // --- objects ---------------------------------------------------------------------------------

  function getObject ({ req, res, query, bucket, key, objects }: Ctx): void {
    const obj = objects.get(key)
    if (!obj) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key, BucketName: bucket })
    const ifMatch = header(req, 'if-match')
    if (ifMatch && !etagListHas(ifMatch, obj.etag)) {
      throw new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Match' })
    }
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      ...obj.headers,
      etag: obj.etag,
      'last-modified': obj.lastModified.toUTCString(),
      'accept-ranges': 'bytes'
    }
    for (const [param, name] of RESPONSE_OVERRIDES) {
      const value = query.get(param)
      if (value !== undefined) headers[name] = value
    }
    const ifNoneMatch = header(req, 'if-none-match')
    if (ifNoneMatch && etagListHas(ifNoneMatch, obj.etag)) {
      return void res.writeHead(304, { etag: obj.etag, 'last-modified': headers['last-modified'] }).end()
    }

    const size = obj.body.length
    const range = parseRange(header(req, 'range'), size)
    if (range === 'unsatisfiable') {
      throw new S3Error(416, 'InvalidRange', 'The requested range is not satisfiable',
        { RangeRequested: header(req, 'range') ?? '', ActualObjectSize: String(size) }, { 'content-range': `bytes */${size}` })
    }
    const [start, end] = range ?? [0, size - 1]
    if (range) headers['content-range'] = `bytes ${start}-${end}/${size}`
    headers['content-length'] = String(end - start + 1)
    res.writeHead(range ? 206 : 200, headers)
    res.end(req.method === 'HEAD' ? undefined : obj.body.subarray(start, end + 1))
  }

  async function putObject (ctx: Ctx): Promise<void> {
    // Write-once uploads: `If-None-Match: *` fails when the key exists (S3, R2 and Ceph RGW 16 agree).
    if (header(ctx.req, 'if-none-match') === '*' && ctx.objects.has(ctx.key)) {
      throw new S3Error(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-None-Match' })
    }
    const body = await readPayload(ctx)
    const obj = makeObject(body, uploadHeaders(ctx))
    ctx.objects.set(ctx.key, obj)
    ctx.res.writeHead(200, { etag: obj.etag, 'content-length': '0' }).end()
  }

  function listObjectsV2 ({ res, query, bucket, objects }: Ctx): void {
    const prefix = query.get('prefix') ?? ''
    const delimiter = query.get('delimiter') || undefined
    const maxKeys = Math.min(1000, Math.max(0, Number.parseInt(query.get('max-keys') ?? '1000', 10) || 0))
    const token = query.get('continuation-token')
    const startAfter = query.get('start-after')
    // The token is the last key (or common prefix) already returned.
    let after: { k: string; p: boolean } = { k: startAfter ?? '', p: false }
    if (token !== undefined) {
      try {
        after = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'))
        if (typeof after.k !== 'string') throw new Error('bad token')
      } catch {
        throw new S3Error(400, 'InvalidArgument', 'The continuation token provided is incorrect')
      }
    }
    const keys = [...objects.keys()]
      .filter((k) => k.startsWith(prefix) && utf8Compare(k, after.k) > 0 && !(after.p && k.startsWith(after.k)))
      .sort(utf8Compare)

    const contents: string[] = []
    const commonPrefixes: string[] = []
    let last: { k: string; p: boolean } | undefined
    let truncated = false
    for (const k of keys) {
      const cut = delimiter ? k.indexOf(delimiter, prefix.length) : -1
      const commonPrefix = cut >= 0 ? k.slice(0, cut + delimiter!.length) : undefined
      if (commonPrefix !== undefined && last?.p && last.k === commonPrefix) continue
      if (contents.length + commonPrefixes.length >= maxKeys) {
        truncated = true
        break
      }
      if (commonPrefix !== undefined) {
        commonPrefixes.push(`<CommonPrefixes>${el('Prefix', commonPrefix)}</CommonPrefixes>`)
        last = { k: commonPrefix, p: true }
      } else {
        const o = objects.get(k)!
        contents.push(`<Contents>${el('Key', k)}${el('LastModified', o.lastModified.toISOString())}${el('ETag', o.etag)}` +
          `${el('Size', String(o.body.length))}${el('StorageClass', 'STANDARD')}</Contents>`)
        last = { k, p: false }
      }
    }
    sendXml(res, 200, 'ListBucketResult', el('Name', bucket) + el('Prefix', prefix) +
      (delimiter ? el('Delimiter', delimiter) : '') + el('MaxKeys', String(maxKeys)) +
      el('KeyCount', String(contents.length + commonPrefixes.length)) + el('IsTruncated', String(truncated)) +
      (token !== undefined ? el('ContinuationToken', token) : '') +
      (truncated && last ? el('NextContinuationToken', Buffer.from(JSON.stringify(last)).toString('base64url')) : '') +
      (startAfter !== undefined ? el('StartAfter', startAfter) : '') +
      contents.join('') + commonPrefixes.join(''))
  }

  // --- multipart -------------------------------------------------------------------------------

  function createMultipartUpload (ctx: Ctx): void {
    const uploadId = randomBytes(18).toString('base64url')
    uploads.set(uploadId, { bucket: ctx.bucket, key: ctx.key, headers: uploadHeaders(ctx), parts: new Map() })
    sendXml(ctx.res, 200, 'InitiateMultipartUploadResult', el('Bucket', ctx.bucket) + el('Key', ctx.key) + el('UploadId', uploadId))
  }

  async function uploadPart (ctx: Ctx): Promise<void> {
    const upload = findUpload(ctx)
    const partNumber = Number(ctx.query.get('partNumber'))
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) {
      throw new S3Error(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive')
    }
    const part = makeObject(await readPayload(ctx), {})
    upload.parts.set(partNumber, part)
    ctx.res.writeHead(200, { etag: part.etag, 'content-length': '0' }).end()
  }

  function listParts (ctx: Ctx): void {
    const upload = findUpload(ctx)
    const marker = Number(ctx.query.get('part-number-marker') ?? 0) || 0
    const maxParts = Math.min(1000, Number(ctx.query.get('max-parts') ?? 1000) || 1000)
    const numbers = [...upload.parts.keys()].filter((n) => n > marker).sort((a, b) => a - b)
    const page = numbers.slice(0, maxParts)
    const truncated = numbers.length > page.length
    sendXml(ctx.res, 200, 'ListPartsResult', el('Bucket', ctx.bucket) + el('Key', ctx.key) +
      el('UploadId', ctx.query.get('uploadId')!) + el('PartNumberMarker', String(marker)) +
      (truncated ? el('NextPartNumberMarker', String(page.at(-1))) : '') +
      el('MaxParts', String(maxParts)) + el('IsTruncated', String(truncated)) +
      page.map((n) => {
        const p = upload.parts.get(n)!
        return `<Part>${el('PartNumber', String(n))}${el('LastModified', p.lastModified.toISOString())}` +
          `${el('ETag', p.etag)}${el('Size', String(p.body.length))}</Part>`
      }).join(''))
  }

  async function completeMultipartUpload (ctx: Ctx): Promise<void> {
    const upload = findUpload(ctx)
    const xml = (await readBody(ctx.req, MiB)).toString('utf8')
    const requested = [...xml.matchAll(/<Part(?:\s[^>]*)?>([\s\S]*?)<\/Part>/g)].map(([, inner]) => ({
      number: Number(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(inner!)?.[1]),
      etag: normalizeEtag(/<ETag>([\s\S]*?)<\/ETag>/.exec(inner!)?.[1] ?? '')
    }))
    if (requested.length === 0 || requested.some((p) => !Number.isInteger(p.number))) {
      throw new S3Error(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema')
    }
    const parts = requested.map((p, i) => {
      if (i > 0 && p.number <= requested[i - 1]!.number) {
        throw new S3Error(400, 'InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.')
      }
      const part = upload.parts.get(p.number)
      if (!part || normalizeEtag(part.etag) !== p.etag) {
        throw new S3Error(400, 'InvalidPart', 'One or more of the specified parts could not be found. The part might not ' +
          'have been uploaded, or the specified entity tag might not have matched the part\'s entity tag.',
        { PartNumber: String(p.number), ETag: p.etag })
      }
      return part
    })
    // R2's rules, stricter than S3's: parts ≥ 5 MiB and all of the same size, except the last (≤ the others).
    const size = parts[0]!.body.length
    parts.forEach((part, i) => {
      const isLast = i === parts.length - 1
      if (!isLast && part.body.length < MIN_PART_BYTES) {
        throw new S3Error(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.',
          { PartNumber: String(requested[i]!.number), ProposedSize: String(part.body.length), MinSizeAllowed: String(MIN_PART_BYTES) })
      }
      if (isLast ? part.body.length > size : part.body.length !== size) {
        throw new S3Error(400, 'InvalidPart', 'All non-trailing parts must have the same length.')
      }
    })
    // Multipart ETag: MD5 of the concatenated binary part MD5s, then "-<number of parts>".
    const md5s = Buffer.concat(parts.map((p) => Buffer.from(normalizeEtag(p.etag), 'hex')))
    const obj: StoredObject = {
      body: Buffer.concat(parts.map((p) => p.body)),
      etag: `"${createHash('md5').update(md5s).digest('hex')}-${parts.length}"`,
      lastModified: new Date(),
      headers: upload.headers
    }
    ctx.objects.set(ctx.key, obj)
    uploads.delete(ctx.query.get('uploadId')!)
    sendXml(ctx.res, 200, 'CompleteMultipartUploadResult', el('Location', `${endpoint}/${ctx.bucket}/${encodeKey(ctx.key)}`) +
      el('Bucket', ctx.bucket) + el('Key', ctx.key) + el('ETag', obj.etag))
  }

  function abortMultipartUpload (ctx: Ctx): void {
    findUpload(ctx)
    uploads.delete(ctx.query.get('uploadId')!)
    ctx.res.writeHead(204).end()
  }

  function findUpload ({ query, bucket, key }: Ctx): Upload {
    const upload = uploads.get(query.get('uploadId') ?? '')
    if (!upload || upload.bucket !== bucket || upload.key !== key) {
      throw new S3Error(404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, ' +
        'or the upload may have been aborted or completed.', { UploadId: query.get('uploadId') ?? '' })
    }
    return upload
  }

  // --- server lifecycle ------------------------------------------------------------------------

  const host = opts.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, host, () => resolve())
  })
  const { port } = server.address() as AddressInfo
  // A wildcard listen address is not a usable URL host: point clients at loopback instead.
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  const endpoint = `http://${urlHost}:${port}`

  return {
    endpoint,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections() // keep-alive sockets would otherwise hold close() open
      })
  }
}

// --- request helpers ---------------------------------------------------------------------------

interface Ctx {
  req: IncomingMessage
  res: ServerResponse
  query: Map<string, string>
  bucket: string
  key: string
  objects: Map<string, StoredObject>
  amz(name: string): string | undefined
  payloadHash: string
}

function header (req: IncomingMessage, name: string): string | undefined {
  return req.headersDistinct[name]?.[0]
}

function parsePath (rawPath: string): { bucket: string; key: string } {
  const slash = rawPath.indexOf('/', 1)
  try {
    return {
      bucket: decodeURIComponent(slash < 0 ? rawPath.slice(1) : rawPath.slice(1, slash)),
      key: slash < 0 ? '' : decodeURIComponent(rawPath.slice(slash + 1))
    }
  } catch {
    throw new S3Error(400, 'InvalidURI', "Couldn't parse the specified URI.")
  }
}

/** Headers remembered with an object (or a multipart upload) and replayed on GET/HEAD. */
function uploadHeaders ({ req, query, amz }: Ctx): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const name of STORED_HEADERS) {
    const value = header(req, name)
    if (value !== undefined) headers[name] = value
  }
  // aws-chunked is transfer framing (removed in readPayload), not the object's encoding.
  const encoding = headers['content-encoding']?.split(',').map((s) => s.trim()).filter((s) => s && s !== 'aws-chunked')
  if (encoding?.length) headers['content-encoding'] = encoding.join(', ')
  else delete headers['content-encoding']
  for (const name of new Set([...Object.keys(req.headersDistinct), ...query.keys()])) {
    const lower = name.toLowerCase()
    if (lower.startsWith('x-amz-meta-')) headers[lower] = amz(name)!
  }
  return headers
}

/** Reads an object or part body: limits, aws-chunked decoding, Content-MD5 and x-amz-checksum-* checks. */
async function readPayload ({ req, amz, payloadHash }: Ctx): Promise<Buffer> {
  let body = await readBody(req, MAX_BODY_BYTES)
  let trailers = new Map<string, string>()
  const chunked = payloadHash.startsWith('STREAMING-') || /aws-chunked/.test(header(req, 'content-encoding') ?? '')
  if (chunked) {
    const decoded = decodeAwsChunked(body)
    if (!decoded) throw new S3Error(400, 'IncompleteBody', 'The aws-chunked body could not be decoded.')
    body = decoded.body
    trailers = decoded.trailers
  }
  const md5 = header(req, 'content-md5')
  if (md5 !== undefined) {
    const expected = Buffer.from(md5, 'base64')
    if (expected.length !== 16) throw new S3Error(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.')
    if (!expected.equals(createHash('md5').update(body).digest())) {
      throw new S3Error(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.')
    }
  }
  // Real stores reject a checksum that does not match the body (e.g. the SDK's CRC32 of an *empty*
  // body that gets baked into presigned PUT URLs by default), so the emulator does too.
  for (const [algorithm, compute] of CHECKSUMS) {
    const expected = amz(`x-amz-checksum-${algorithm}`) ?? trailers.get(`x-amz-checksum-${algorithm}`)
    const actual = compute?.(body)
    if (expected !== undefined && actual !== undefined && expected !== actual) {
      throw new S3Error(400, 'BadDigest', `The ${algorithm.toUpperCase()} you specified did not match the calculated checksum.`)
    }
  }
  return body
}

// crc32c/crc64nvme have no node:crypto/zlib implementation: they are accepted unchecked.
const CHECKSUMS: Array<[string, ((b: Buffer) => string) | undefined]> = [
  ['crc32', typeof zlib.crc32 === 'function'
    ? (b) => { const out = Buffer.alloc(4); out.writeUInt32BE(zlib.crc32(b)); return out.toString('base64') }
    : undefined],
  ['sha1', (b) => createHash('sha1').update(b).digest('base64')],
  ['sha256', (b) => createHash('sha256').update(b).digest('base64')]
]

async function readBody (req: IncomingMessage, limit: number): Promise<Buffer> {
  if (Number(header(req, 'content-length') ?? 0) > limit) {
    throw new S3Error(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size')
  }
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length
    if (total > limit) throw new S3Error(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size')
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** aws-chunked framing: `<hex size>[;chunk-signature=…]\r\n<data>\r\n` … `0…\r\n[trailers]`. Signatures are not checked. */
function decodeAwsChunked (buf: Buffer): { body: Buffer; trailers: Map<string, string> } | undefined {
  const out: Buffer[] = []
  let pos = 0
  for (;;) {
    const eol = buf.indexOf('\r\n', pos)
    if (eol < 0) return undefined
    const size = Number.parseInt(buf.toString('latin1', pos, eol).split(';')[0]!, 16)
    if (Number.isNaN(size) || eol + 2 + size > buf.length) return undefined
    if (size === 0) {
      // Trailers (`x-amz-checksum-crc32:…`, `x-amz-trailer-signature:…`) follow, one per line.
      const trailers = new Map<string, string>()
      for (const line of buf.toString('latin1', eol + 2).split('\r\n')) {
        const colon = line.indexOf(':')
        if (colon > 0) trailers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
      }
      return { body: Buffer.concat(out), trailers }
    }
    out.push(buf.subarray(eol + 2, eol + 2 + size))
    pos = eol + 2 + size + 2
  }
}

function makeObject (body: Buffer, headers: Record<string, string>): StoredObject {
  return { body, etag: `"${createHash('md5').update(body).digest('hex')}"`, lastModified: new Date(), headers }
}

/** RFC 9110 single byte range; undefined = no (usable) Range header, so the whole object is sent. */
function parseRange (value: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  const m = value === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(value.trim())
  if (!m || (m[1] === '' && m[2] === '')) return undefined
  if (m[1] === '') {
    const suffix = Number(m[2])
    return suffix === 0 || size === 0 ? 'unsatisfiable' : [Math.max(0, size - suffix), size - 1]
  }
  const start = Number(m[1])
  if (m[2] !== '' && Number(m[2]) < start) return undefined // syntactically invalid: ignored, like S3
  if (start >= size) return 'unsatisfiable'
  return [start, m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)]
}

function etagListHas (list: string, etag: string): boolean {
  return list.split(',').some((t) => t.trim() === '*' || normalizeEtag(t.trim().replace(/^W\//, '')) === normalizeEtag(etag))
}

function normalizeEtag (etag: string): string {
  return etag.replaceAll('&quot;', '"').trim().replace(/^"|"$/g, '')
}

function utf8Compare (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) // S3 lists keys in UTF-8 byte order
}

function encodeKey (key: string): string {
  return key.split('/').map(encodeURIComponent).join('/')
}

function notImplemented (): S3Error {
  return new S3Error(501, 'NotImplemented', 'This operation is not implemented by the dev S3 emulator.')
}

// --- responses ---------------------------------------------------------------------------------

function preflight (req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, {
    'access-control-allow-methods': 'GET, HEAD, PUT, POST, DELETE',
    // Echo what the browser asks for: a literal `*` does not cover Authorization.
    'access-control-allow-headers': header(req, 'access-control-request-headers') ?? '*',
    'access-control-max-age': '600',
    'access-control-allow-private-network': 'true',
    vary: 'Access-Control-Request-Headers',
    'content-length': '0'
  })
  res.end()
}

function sendXml (res: ServerResponse, status: number, root: string, inner: string, headers: Record<string, string> = {}): void {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<${root}${root === 'Error' ? '' : ` xmlns="${XMLNS}"`}>${inner}</${root}>`
  res.writeHead(status, { ...headers, 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) })
  res.end(xml)
}

function sendError (req: IncomingMessage, res: ServerResponse, err: S3Error): void {
  if (res.headersSent) return void res.destroy()
  if (req.method === 'HEAD') return void res.writeHead(err.status, err.headers).end() // HEAD errors have no body
  const details = Object.entries(err.details).map(([k, v]) => el(k, v)).join('')
  sendXml(res, err.status, 'Error', el('Code', err.code) + el('Message', err.message) + details +
    el('RequestId', String(res.getHeader('x-amz-request-id') ?? '')), err.headers)
}

function el (name: string, text: string): string {
  return `<${name}>${escapeXml(text)}</${name}>`
}

const XML_ENTITIES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' }
function escapeXml (text: string): string {
  return text.replace(/[<>&"']/g, (c) => XML_ENTITIES[c]!)
}
