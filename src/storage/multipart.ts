/**
 * The multipart control plane: the few small S3 calls r2-signer makes itself (create, list parts,
 * complete, abort). Part bodies never pass through here: browsers PUT them straight to storage
 * with URLs from the signer. Every failure leaves as a StorageProblem (an HttpProblem) with a
 * status the caller can act on; never a raw SDK error.
 *
 * The AWS SDK is loaded on the first call, not at startup: it costs ≈12 MB of resident memory
 * (docs/performance.md, *Memory*) and most deployments sign single URLs only. The plugin
 * (src/storage/plugin.ts) checks at startup that the package resolves.
 */
import type { S3Client } from '@aws-sdk/client-s3'
import { HttpProblem } from '../http/problem.js'
import type { ProblemCode } from '../http/problem-catalogue.js'
import { UPLOAD_ID_PATTERN } from '../schemas/multipart.js'
import { MAX_PARTS } from './part-size.js'
import type { S3Connection } from './s3-client.js'
import { errorCode } from '../http/error-code.js'

const UPLOAD_ID = new RegExp(UPLOAD_ID_PATTERN)

/** Largest page S3 and R2 return for ListParts. */
const LIST_PARTS_MAX_PAGE = 1000

export type MultipartOperation = 'CreateMultipartUpload' | 'ListParts' | 'CompleteMultipartUpload' | 'AbortMultipartUpload' | 'HeadObject'

export interface MultipartStorageOptions extends S3Connection {
  /** Bounds connecting, waiting for the answer's headers, and any silence while reading its body. */
  timeoutMs: number
  /** Attempts per call, retries included; default 2 (transient errors and timeouts are retried once). */
  maxAttempts?: number
  /** Parts per ListParts page, 1..1000 (default 1000); tests lower it to exercise paging. */
  listPageSize?: number
}

export interface UploadRef {
  bucket: string
  key: string
  uploadId: string
}

export interface UploadedPart {
  partNumber: number
  etag: string
  size: number
}

export interface CompletedPart {
  partNumber: number
  etag: string
}

/** What went wrong at storage, for the log line (never sent to the caller). */
export interface StorageFailure {
  operation: MultipartOperation
  /** S3 error code (NoSuchUpload, SignatureDoesNotMatch…), or the network error code (ECONNREFUSED…). */
  code?: string
  status?: number
  requestId?: string
  message: string
}

/** A storage failure, already translated into the problem the caller gets. */
export class StorageProblem extends HttpProblem {
  readonly storage: StorageFailure

  /** Without `detail`, the catalogue's documented one (src/http/problem-catalogue.ts). */
  constructor (code: ProblemCode, detail: string | undefined, storage: StorageFailure) {
    super(code, detail)
    this.name = 'StorageProblem'
    this.storage = storage
  }
}

type Sdk = typeof import('@aws-sdk/client-s3')
interface Connected { sdk: Sdk, client: S3Client }

let loadingSdk: Promise<{ sdk: Sdk, createS3Client: typeof import('./s3-client.js').createS3Client }> | undefined

/** One import for the process; a failed one is tried again on the next call. */
function loadSdk (): NonNullable<typeof loadingSdk> {
  loadingSdk ??= Promise.all([import('@aws-sdk/client-s3'), import('./s3-client.js')])
    .then(([sdk, { createS3Client }]) => ({ sdk, createS3Client }))
    .catch((error: unknown) => {
      loadingSdk = undefined
      throw error
    })
  return loadingSdk
}

export class MultipartStorage {
  readonly #options: MultipartStorageOptions
  readonly #listPageSize: number
  #connected: Promise<Connected> | undefined
  #destroyed = false

  constructor (options: MultipartStorageOptions) {
    this.#listPageSize = options.listPageSize ?? LIST_PARTS_MAX_PAGE
    if (!Number.isInteger(this.#listPageSize) || this.#listPageSize < 1 || this.#listPageSize > LIST_PARTS_MAX_PAGE) {
      throw new RangeError(`listPageSize must be an integer in 1..${LIST_PARTS_MAX_PAGE}`)
    }
    this.#options = options
  }

  /** The SDK and the one client, on first use. A failed SDK import is a 502 (logged), never a raw error. */
  #connect (operation: MultipartOperation): Promise<Connected> {
    this.#connected ??= loadSdk().then(({ sdk, createS3Client }) => {
      const client = createS3Client(this.#options, { timeoutMs: this.#options.timeoutMs, maxAttempts: this.#options.maxAttempts ?? 2 })
      if (this.#destroyed) client.destroy()
      return { sdk, client }
    }, (error: unknown) => {
      this.#connected = undefined
      throw new StorageProblem('STORAGE_ERROR', 'The service could not load its storage client; it is misconfigured.', {
        operation, message: `the AWS SDK could not be loaded (${errorCode(error)})`
      })
    })
    return this.#connected
  }

  /** Starts an upload; the object gets `contentType` when it is completed. */
  async create (input: { bucket: string, key: string, contentType: string }): Promise<{ uploadId: string }> {
    const out = await this.#send('CreateMultipartUpload', false, ({ sdk, client }) =>
      client.send(new sdk.CreateMultipartUploadCommand({ Bucket: input.bucket, Key: input.key, ContentType: input.contentType })))
    const uploadId = out.UploadId
    if (typeof uploadId !== 'string' || !UPLOAD_ID.test(uploadId)) {
      // Clients could not pass it back to us: give up on it rather than leave it to the lifecycle rules.
      if (typeof uploadId === 'string' && uploadId !== '') {
        await this.abort({ ...input, uploadId }).catch(() => {})
      }
      throw new StorageProblem('STORAGE_ERROR', 'Storage gave an unexpected answer.', {
        operation: 'CreateMultipartUpload',
        status: out.$metadata.httpStatusCode,
        requestId: out.$metadata.requestId,
        message: `upload id missing or not in the accepted format (length ${String(uploadId?.length ?? 0)})`
      })
    }
    return { uploadId }
  }

  /** Every part storage holds for the upload, in part-number order, all pages gathered. */
  async listParts ({ bucket, key, uploadId }: UploadRef): Promise<UploadedPart[]> {
    const parts: UploadedPart[] = []
    let marker: string | undefined
    // At most MAX_PARTS parts exist, so a store that keeps answering "truncated" is broken.
    const maxPages = Math.ceil(MAX_PARTS / this.#listPageSize) + 1
    for (let page = 1; ; page++) {
      const out = await this.#send('ListParts', true, ({ sdk, client }) => client.send(new sdk.ListPartsCommand({
        Bucket: bucket, Key: key, UploadId: uploadId, MaxParts: this.#listPageSize, PartNumberMarker: marker
      })))
      for (const part of out.Parts ?? []) {
        if (part.PartNumber === undefined || part.ETag === undefined || part.Size === undefined) {
          throw malformed('ListParts', out.$metadata, 'a part without PartNumber, ETag or Size')
        }
        parts.push({ partNumber: part.PartNumber, etag: part.ETag, size: part.Size })
      }
      if (out.IsTruncated !== true) break
      const next = out.NextPartNumberMarker
      if (next === undefined || !(Number(next) > Number(marker ?? 0)) || page >= maxPages) {
        throw malformed('ListParts', out.$metadata, 'a truncated listing that does not advance')
      }
      marker = next
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber)
  }

  /**
   * Assembles the object from `parts` (ascending, unique: checked by the caller). ETags are sent
   * quoted, as storage lists them. Ceph 16 answers an empty ETag, so `etag` may be absent.
   */
  async complete (ref: UploadRef & { parts: CompletedPart[] }): Promise<{ etag?: string }> {
    const { bucket, key, uploadId, parts } = ref
    try {
      const out = await this.#send('CompleteMultipartUpload', true, ({ sdk, client }) => client.send(new sdk.CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts.map((part) => ({ PartNumber: part.partNumber, ETag: quoteEtag(part.etag) })) }
      })))
      return out.ETag === undefined || out.ETag === '' ? {} : { etag: out.ETag }
    } catch (error) {
      // Ceph RGW answers CompleteMultipartUpload for an unknown or aborted upload with 500
      // InternalError ("This multipart completion is already in progress") where S3 and R2 say
      // NoSuchUpload. After a 500 (not after a timeout or a 503: storage is busy enough), one
      // ListParts call tells the two apart.
      if (error instanceof StorageProblem && error.code === 'STORAGE_UNAVAILABLE' && error.storage.status === 500 &&
        await this.#uploadIsGone(ref)) {
        throw new StorageProblem('UPLOAD_NOT_FOUND', undefined, { ...error.storage, message: `${error.storage.message} (ListParts: no such upload)` })
      }
      throw error
    }
  }

  /** Whether an object has this key (HeadObject; 404 is false): the write-once check of multipart uploads. */
  async objectExists ({ bucket, key }: { bucket: string, key: string }): Promise<boolean> {
    const { sdk, client } = await this.#connect('HeadObject')
    try {
      await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: key }))
      return true
    } catch (error) {
      if ((error as SdkError).$metadata?.httpStatusCode === 404) return false
      throw toStorageProblem('HeadObject', false, error)
    }
  }

  /** Discards the upload and its parts. An upload that is already gone is UPLOAD_NOT_FOUND. */
  async abort ({ bucket, key, uploadId }: UploadRef): Promise<void> {
    await this.#send('AbortMultipartUpload', true, ({ sdk, client }) =>
      client.send(new sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })))
  }

  async #uploadIsGone ({ bucket, key, uploadId }: UploadRef): Promise<boolean> {
    try {
      await this.#send('ListParts', true, ({ sdk, client }) => client.send(new sdk.ListPartsCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MaxParts: 1 })))
      return false
    } catch (error) {
      return error instanceof StorageProblem && error.code === 'UPLOAD_NOT_FOUND'
    }
  }

  /** Closes the keep-alive sockets (they would otherwise hold the process open for a minute). */
  destroy (): void {
    this.#destroyed = true
    this.#connected?.then(({ client }) => client.destroy(), () => {})
  }

  async #send<T> (operation: MultipartOperation, uploadScoped: boolean, call: (connected: Connected) => Promise<T>): Promise<T> {
    const connected = await this.#connect(operation)
    try {
      return await call(connected)
    } catch (error) {
      throw toStorageProblem(operation, uploadScoped, error)
    }
  }
}

/** Storage lists part ETags quoted; clients may pass them either way. */
export function quoteEtag (etag: string): string {
  return etag.startsWith('"') ? etag : `"${etag}"`
}

function malformed (operation: MultipartOperation, metadata: { httpStatusCode?: number, requestId?: string }, what: string): StorageProblem {
  return new StorageProblem('STORAGE_ERROR', 'Storage gave an unexpected answer.', {
    operation, status: metadata.httpStatusCode, requestId: metadata.requestId, message: `storage answered ${what}`
  })
}

/** Node's network error codes: storage could not be reached, or the connection broke. */
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'ESOCKETTIMEDOUT', 'EHOSTUNREACH',
  'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER'
])

/** S3 codes meaning storage did not accept r2-signer's credentials or signature. */
const AUTH_ERROR_CODES = new Set([
  'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'AllAccessDisabled', 'InvalidToken',
  'ExpiredToken', 'TokenRefreshRequired', 'AuthorizationHeaderMalformed', 'RequestTimeTooSkewed', 'Unauthorized'
])

/** S3 codes for an overloaded or briefly failing store: worth retrying. */
const TRANSIENT_ERROR_CODES = new Set(['SlowDown', 'ServiceUnavailable', 'InternalError', 'RequestTimeout', 'TooManyRequests'])

interface SdkError {
  name?: string
  code?: string
  message?: string
  $metadata?: { httpStatusCode?: number, requestId?: string }
}

/**
 * Maps an SDK error to the problem the caller gets. The caller's mistakes (unknown upload, bad
 * parts) are 4xx; a store that cannot be reached, times out or is overloaded is 503 with
 * Retry-After; a store that refuses r2-signer itself (credentials, missing bucket) or answers
 * nonsense is 502: the operator must fix the configuration. Errors that did not come from the
 * SDK (bugs) are passed on unchanged and end as a logged 500.
 */
export function toStorageProblem (operation: MultipartOperation, uploadScoped: boolean, error: unknown): unknown {
  if (error instanceof HttpProblem || typeof error !== 'object' || error === null) return error
  const e = error as SdkError
  const status = e.$metadata?.httpStatusCode
  const name = e.name ?? ''
  const networkCode = typeof e.code === 'string' && NETWORK_ERROR_CODES.has(e.code) ? e.code : undefined
  const timedOut = name === 'TimeoutError'
  if (e.$metadata === undefined && networkCode === undefined && !timedOut) return error

  const failure: StorageFailure = {
    operation,
    code: networkCode ?? (timedOut ? 'TimeoutError' : name || undefined),
    status,
    requestId: e.$metadata?.requestId,
    message: String(e.message ?? '').slice(0, 300)
  }
  const problem = (code: ProblemCode, detail?: string) => new StorageProblem(code, detail, failure)
  const unavailable = () => problem('STORAGE_UNAVAILABLE')

  if (status === undefined) return unavailable() // no HTTP answer at all: refused, reset, timed out, DNS
  // Ceph RGW answers ListParts for an unknown (or completed, or aborted) upload with NoSuchKey.
  if (name === 'NoSuchUpload' || (uploadScoped && name === 'NoSuchKey')) {
    return problem('UPLOAD_NOT_FOUND')
  }
  switch (name) {
    case 'InvalidPart':
      return problem('INVALID_PART') // the documented detail: no such part with that ETag
    case 'InvalidPartOrder':
      return problem('INVALID_PART', 'Parts must be listed in ascending partNumber order.')
    case 'EntityTooSmall':
      return problem('PART_TOO_SMALL')
    case 'EntityTooLarge':
      return problem('INVALID_PART', 'The parts add up to more than storage allows for one object.')
    case 'NoSuchBucket':
      return problem('STORAGE_ERROR', 'The bucket does not exist in storage; the service is misconfigured.')
  }
  if (AUTH_ERROR_CODES.has(name) || status === 401 || status === 403) {
    return problem('STORAGE_ERROR') // the documented detail: credentials refused
  }
  if (TRANSIENT_ERROR_CODES.has(name) || status === 429 || (status >= 500 && status !== 501)) return unavailable()
  if (status === 400) return problem('INVALID_REQUEST', 'Storage rejected the request as invalid.')
  return problem('STORAGE_ERROR', 'Storage gave an unexpected answer.')
}
