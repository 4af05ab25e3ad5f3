/**
 * The storage self-test: does the configured store keep the promises a presigned URL makes?
 *
 * A presigned URL only binds what it signs. AWS S3 refuses a presigned request that carries an
 * `x-amz-*` header the URL did not sign; some S3-compatible stores (Ceph RGW 16 among them) apply
 * such headers instead, so an upload URL plus an unsigned `x-amz-copy-source` becomes a server-side
 * copy of any object r2-signer's credential can read. r2-signer cannot make storage check headers;
 * it can find out, with canary objects under a reserved prefix, using its own signer and plain HTTP
 * exactly as a browser would, and then refuse to hand out write URLs (src/storage/safety-plugin.ts).
 *
 * Every check is `ok` (storage refused or honoured as it should), `failed` (storage did what a
 * URL's holder must not be able to make it do) or `error` (no clear answer: network, odd status).
 * Canaries are deleted afterwards (ListObjectsV2 and DeleteObject, signed requests without the AWS
 * SDK: src/storage/s3-requests.ts), and so are canaries older than an hour that an interrupted run
 * left behind.
 */
import { randomBytes } from 'node:crypto'
import { Agent } from 'undici'
import type { Presigner, PresignInput } from '../signing/presigner.js'
import { errorCode } from '../http/error-code.js'
import type { S3Connection } from './s3-client.js'
import { createS3Requests, listedObjects } from './s3-requests.js'

export const DEFAULT_STORAGE_CHECK_PREFIX = '.r2-signer-check/'

export type StorageCheckName =
  | 'unsigned-copy-source'
  | 'unsigned-acl'
  | 'unsigned-meta'
  | 'content-length-mismatch'
  | 'expired-url'
  | 'tampered-url'
  | 'if-none-match'

/**
 * Checks whose failure makes storage unsafe for write URLs: a URL's holder could read other objects,
 * publish or relabel what they upload, ignore the signed length, or use an expired or altered URL.
 * `if-none-match` is reported but does not gate writes: it is a feature (write-once), not a hole.
 */
export const GATING_CHECKS: readonly StorageCheckName[] = [
  'unsigned-copy-source', 'unsigned-acl', 'unsigned-meta', 'content-length-mismatch', 'expired-url', 'tampered-url'
]

export type CheckOutcome = 'ok' | 'failed' | 'error'

export interface StorageCheckResult {
  name: StorageCheckName
  outcome: CheckOutcome
  /** What storage did, in words (statuses, never URLs or signatures). */
  reason: string
}

/** safe: every gating check ok; unsafe: one failed; unknown: none failed but one had no clear answer. */
export type StorageVerdict = 'safe' | 'unsafe' | 'unknown'

export interface StorageSelfTestReport {
  verdict: StorageVerdict
  bucket: string
  checks: StorageCheckResult[]
  /** ISO time the run started. */
  checkedAt: string
  durationMs: number
  /** Canaries left behind (delete failed); 0 normally. */
  canariesLeft: number
}

export interface StorageSelfTestOptions {
  /** The signer r2-signer issues URLs with (the thing under test). */
  presigner: Presigner
  /** For the canary cleanup (ListObjectsV2, DeleteObject) and the one check the presigner cannot sign. */
  storage: S3Connection
  bucket: string
  /** Canaries live under this prefix (STORAGE_CHECK_PREFIX). */
  prefix: string
  /** Bound on each HTTP request. */
  timeoutMs: number
  /** Aborts the run (the app is closing). */
  signal?: AbortSignal
}

/** Canaries older than this, from runs that could not clean up, are deleted by the next run. */
const STALE_CANARY_MS = 3600_000
const UNSIGNED_META = 'x-amz-meta-r2-signer-check'

interface HttpAnswer { status: number, headers: Record<string, string | string[] | undefined>, body: string }

export async function runStorageSelfTest (options: StorageSelfTestOptions): Promise<StorageSelfTestReport> {
  const { presigner, bucket, prefix, timeoutMs, signal } = options
  const started = performance.now()
  const checkedAt = new Date().toISOString()
  const base = `${prefix}${Date.now()}-${randomBytes(6).toString('hex')}/`
  const agent = new Agent({ connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, keepAliveTimeout: 1000 })

  const sign = (input: Omit<PresignInput, 'bucket' | 'expiresIn'> & { expiresIn?: number }) =>
    presigner.presign({ bucket, expiresIn: 60, ...input })

  async function send (method: string, url: string, headers: Record<string, string> = {}, body?: string): Promise<HttpAnswer> {
    const origin = new URL(url).origin
    const answer = await agent.request({
      origin,
      path: url.slice(origin.length),
      method: method as 'PUT',
      headers,
      body,
      signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(signal === undefined ? [] : [signal])])
    })
    return { status: answer.statusCode, headers: answer.headers, body: await answer.body.text() }
  }

  /** PUTs `body` through a fresh upload URL for `key`, adding `extra` (unsigned) headers. */
  async function put (key: string, body: string, extra: Record<string, string> = {}, input: Partial<PresignInput> = {}): Promise<HttpAnswer> {
    const signed = sign({ operation: 'PutObject', key, headers: { 'content-type': 'text/plain' }, ...input })
    const { host: _host, ...mustSend } = signed.signedHeaders // the HTTP client sends Host itself
    return send('PUT', signed.url, { ...mustSend, ...extra }, body)
  }

  async function get (key: string): Promise<HttpAnswer> {
    return send('GET', sign({ operation: 'GetObject', key }).url)
  }

  const sourceKey = `${base}source`
  const sourceBody = `r2-signer storage check ${base}`
  type Check = () => Promise<Omit<StorageCheckResult, 'name'>>
  /** A refusal: refused; 2xx: the request did what it must not (`whatWouldBeWrong`); anything else: unclear. */
  function refusedOr (answer: HttpAnswer, whatWouldBeWrong: string): Omit<StorageCheckResult, 'name'> {
    if (isRefusal(answer.status)) return { outcome: 'ok', reason: `refused (HTTP ${answer.status}${s3Code(answer)})` }
    if (!isSuccess(answer.status)) return { outcome: 'error', reason: `unexpected answer HTTP ${answer.status}${s3Code(answer)}` }
    return { outcome: 'failed', reason: whatWouldBeWrong }
  }

  const CHECKS: Record<StorageCheckName, Check> = {
    'unsigned-copy-source': async () => {
      const key = `${base}copy`
      const answer = await put(key, '', { 'x-amz-copy-source': `/${bucket}/${encodeURIComponent(sourceKey)}` })
      const copied = (await get(key)).body === sourceBody
      if (copied) return { outcome: 'failed', reason: `an upload URL with an unsigned x-amz-copy-source copied another object into its key (HTTP ${answer.status})` }
      return refusedOr(answer, `accepted an upload URL with an unsigned x-amz-copy-source (HTTP ${answer.status})`)
    },
    'unsigned-acl': async () => {
      const key = `${base}acl`
      const answer = await put(key, 'acl', { 'x-amz-acl': 'public-read' })
      if (!isSuccess(answer.status)) return refusedOr(answer, '')
      const anonymous = await send('GET', sign({ operation: 'GetObject', key }).url.split('?')[0] as string)
      return {
        outcome: 'failed',
        reason: anonymous.status === 200
          ? `an unsigned x-amz-acl: public-read made the uploaded object world-readable (HTTP ${answer.status})`
          : `accepted an upload URL with an unsigned x-amz-acl (HTTP ${answer.status})`
      }
    },
    'unsigned-meta': async () => {
      const key = `${base}meta`
      const answer = await put(key, 'meta', { [UNSIGNED_META]: 'unsigned' })
      if (!isSuccess(answer.status)) return refusedOr(answer, '')
      const head = await send('HEAD', sign({ operation: 'HeadObject', key }).url)
      return {
        outcome: 'failed',
        reason: head.headers[UNSIGNED_META] === 'unsigned'
          ? `an unsigned ${UNSIGNED_META} header was stored as object metadata (HTTP ${answer.status})`
          : `accepted an upload URL with an unsigned x-amz-meta-* header (HTTP ${answer.status})`
      }
    },
    'content-length-mismatch': async () => {
      // The body's own Content-Length (8) is sent, not the signed one: what a client with another file does.
      const signed = sign({ operation: 'PutObject', key: `${base}length`, headers: { 'content-type': 'text/plain', 'content-length': '16' } })
      const answer = await send('PUT', signed.url, { 'content-type': 'text/plain' }, 'eight by')
      return refusedOr(answer, `stored 8 bytes through a URL signed for content-length 16 (HTTP ${answer.status})`)
    },
    'expired-url': async () => {
      const answer = await put(`${base}expired`, 'expired', {}, { signingDate: new Date(Date.now() - 600_000), expiresIn: 60 })
      return refusedOr(answer, `accepted an upload URL that expired 9 minutes ago (HTTP ${answer.status})`)
    },
    'tampered-url': async () => {
      const signed = sign({ operation: 'PutObject', key: `${base}tampered`, headers: { 'content-type': 'text/plain' } })
      const answer = await send('PUT', signed.url.replace('/tampered?', '/tampered-elsewhere?'), { 'content-type': 'text/plain' }, 'tampered')
      return refusedOr(answer, `accepted an upload URL whose key was changed after signing (HTTP ${answer.status})`)
    },
    'if-none-match': async () => {
      // The URL a write-once upload gets: storage must refuse to replace the existing canary.
      const signed = sign({ operation: 'PutObject', key: sourceKey, headers: { 'content-type': 'text/plain', 'if-none-match': '*' }, expiresIn: 60 })
      const { host: _host, ...mustSend } = signed.signedHeaders
      const answer = await send('PUT', signed.url, mustSend, 'overwritten')
      if (answer.status === 412) return { outcome: 'ok', reason: 'refused to overwrite an existing object (HTTP 412)' }
      if (isSuccess(answer.status)) return { outcome: 'failed', reason: `overwrote an existing object despite a signed if-none-match: * (HTTP ${answer.status})` }
      return { outcome: 'error', reason: `unexpected answer HTTP ${answer.status}${s3Code(answer)}` }
    }
  }

  let checks: StorageCheckResult[]
  try {
    const source = await put(sourceKey, sourceBody)
    if (!isSuccess(source.status)) {
      const reason = `could not write the canary object ${sourceKey} with an upload URL (HTTP ${source.status}${s3Code(source)})`
      checks = ALL_CHECKS.map((name) => ({ name, outcome: 'error', reason }))
    } else {
      checks = await Promise.all(ALL_CHECKS.map(async (name) => {
        try {
          return { name, ...await CHECKS[name]() }
        } catch (error) {
          return { name, outcome: 'error' as const, reason: `no answer (${errorCode(error)})` }
        }
      }))
    }
  } catch (error) {
    const reason = `storage could not be reached (${errorCode(error)})`
    checks = ALL_CHECKS.map((name) => ({ name, outcome: 'error', reason }))
  }

  const canariesLeft = await cleanUp(options, base).catch(() => -1)
  await agent.close().catch(() => {})
  return { verdict: verdictOf(checks), bucket, checks, checkedAt, durationMs: Math.round(performance.now() - started), canariesLeft }
}

const ALL_CHECKS: readonly StorageCheckName[] = [...GATING_CHECKS, 'if-none-match']

export function verdictOf (checks: readonly StorageCheckResult[]): StorageVerdict {
  const gating = checks.filter((check) => GATING_CHECKS.includes(check.name))
  if (gating.some((check) => check.outcome === 'failed')) return 'unsafe'
  if (gating.some((check) => check.outcome === 'error')) return 'unknown'
  return 'safe'
}

/** Deletes this run's canaries and stale ones; answers how many of this run's could not be deleted (-1: unknown). */
async function cleanUp ({ storage, bucket, prefix, timeoutMs }: StorageSelfTestOptions, base: string): Promise<number> {
  const s3 = createS3Requests(storage, { timeoutMs })
  try {
    const listed = await s3.send({ method: 'GET', bucket, query: { 'list-type': '2', prefix, 'max-keys': '1000' } })
    if (!isSuccess(listed.status)) throw new Error(`ListObjectsV2 answered HTTP ${listed.status}`)
    const staleBefore = Date.now() - STALE_CANARY_MS
    const doomed = listedObjects(listed.body)
      .filter((object) => object.key.startsWith(base) || (object.lastModified?.getTime() ?? Infinity) < staleBefore)
      .map((object) => object.key)
    // A failed delete (one attempt each) leaves a canary that the next run deletes as stale.
    const deleted = await Promise.all(doomed.map(async (key) => {
      try {
        return isSuccess((await s3.send({ method: 'DELETE', bucket, key })).status)
      } catch {
        return false
      }
    }))
    return deleted.filter((ok, i) => !ok && doomed[i]?.startsWith(base)).length
  } finally {
    await s3.close()
  }
}

/**
 * Statuses that say "not done": 400 and 403 in practice (AccessDenied, SignatureDoesNotMatch), any
 * other client error, and 501 (a store that does not implement the header refuses it too). Not 404,
 * 408 or 429, which say nothing about the header.
 */
function isRefusal (status: number): boolean {
  return (status >= 400 && status < 500 && status !== 404 && status !== 408 && status !== 429) || status === 501
}

function isSuccess (status: number): boolean {
  return status >= 200 && status < 300
}

/** `: AccessDenied` from an S3 error document, when there is one. */
function s3Code (answer: HttpAnswer): string {
  const code = /<Code>([A-Za-z0-9.]{1,64})<\/Code>/.exec(answer.body)?.[1]
  return code === undefined ? '' : ` ${code}`
}
