/**
 * How a backend talks to r2-signer: plain HTTP with the user's JWT as the bearer token.
 * Nothing here holds a storage credential; r2-signer and the permission service decide.
 */
import { createHmac } from 'node:crypto'

export interface TokenOptions {
  /** HS256 secret r2-signer and the permission service trust (JWT_SECRET). */
  secret: string
  issuer?: string
  audience?: string
  /** Lifetime of a minted token; r2-signer only needs it for the duration of one call. */
  ttlSeconds?: number
}

/**
 * Mints the user's JWT. In real life your identity provider issues it at login and your backend
 * forwards it as is; this example plays the identity provider so that it runs on its own.
 */
export function mintUserToken (sub: string, options: TokenOptions): string {
  const now = Math.floor(Date.now() / 1000)
  const claims: Record<string, unknown> = { sub, iat: now, exp: now + (options.ttlSeconds ?? 300) }
  if (options.issuer !== undefined) claims.iss = options.issuer
  if (options.audience !== undefined) claims.aud = options.audience
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`
  return `${unsigned}.${createHmac('sha256', options.secret).update(unsigned).digest('base64url')}`
}

/** r2-signer's problem+json error body (see its docs/api.md). */
export interface Problem {
  type?: string
  title: string
  status: number
  detail?: string
  code?: string
}

/** r2-signer answered with an error, or could not be reached. */
export class SignerError extends Error {
  constructor (readonly status: number, readonly problem: Problem) {
    super(problem.detail ?? problem.title)
    this.name = 'SignerError'
  }
}

export interface SignerClientOptions extends TokenOptions {
  /** r2-signer's base URL, e.g. http://127.0.0.1:8080 */
  baseUrl: string
  timeoutMs?: number
}

export type SignerClient = ReturnType<typeof createSignerClient>

export function createSignerClient (options: SignerClientOptions) {
  const base = options.baseUrl.replace(/\/+$/, '')

  async function call<T> (user: string, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    let response: Response
    try {
      response = await fetch(base + path, {
        method,
        headers: {
          authorization: `Bearer ${mintUserToken(user, options)}`,
          ...(body !== undefined && { 'content-type': 'application/json' })
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000)
      })
    } catch {
      throw new SignerError(502, { title: 'Signing service unreachable', status: 502, detail: 'r2-signer did not answer; try again shortly.' })
    }
    if (response.status === 204) return undefined as T
    const text = await response.text()
    let json: unknown
    try { json = JSON.parse(text) } catch { json = undefined }
    if (!response.ok) {
      const problem = (json ?? {}) as Partial<Problem>
      throw new SignerError(response.status, {
        ...problem,
        title: problem.title ?? `r2-signer answered ${response.status}`,
        status: response.status
      })
    }
    return json as T
  }

  const upload = (uploadId: string) => `/v1/multipart-uploads/${encodeURIComponent(uploadId)}`
  const query = (key: string) => `?key=${encodeURIComponent(key)}`

  return {
    downloadUrl: (user: string, body: { key: string, expiresIn?: number, method?: 'GET' | 'HEAD', disposition?: 'inline' | 'attachment', filename?: string, contentType?: string }) =>
      call<SignedUrl>(user, 'POST', '/v1/download-urls', body),
    uploadUrl: (user: string, body: { key: string, contentType: string, contentLength: number, expiresIn?: number, writeOnce?: boolean }) =>
      call<SignedUrl>(user, 'POST', '/v1/upload-urls', body),
    createMultipart: (user: string, body: { key: string, contentType: string, size: number, partSize?: number, writeOnce?: boolean }) =>
      call<{ uploadId: string, bucket: string, key: string, partSize: number, partCount: number, uploadToken: string }>(user, 'POST', '/v1/multipart-uploads', body),
    /** Each URL is signed for its part's planned size; `headers` is empty: PUT the bytes as they are. */
    partUrls: (user: string, uploadId: string, body: { key: string, uploadToken: string, partNumbers: number[], expiresIn?: number }) =>
      call<{ headers: Record<string, string>, parts: Array<{ partNumber: number, url: string, expiresAt: string }> }>(user, 'POST', `${upload(uploadId)}/part-urls`, body),
    listParts: (user: string, uploadId: string, key: string) =>
      call<{ parts: Array<{ partNumber: number, etag: string, size: number }> }>(user, 'GET', `${upload(uploadId)}/parts${query(key)}`),
    completeMultipart: (user: string, uploadId: string, body: { key: string, uploadToken: string, parts: Array<{ partNumber: number, etag: string }> }) =>
      call<{ bucket: string, key: string, etag?: string }>(user, 'POST', `${upload(uploadId)}/complete`, body),
    abortMultipart: (user: string, uploadId: string, key: string) =>
      call<undefined>(user, 'DELETE', `${upload(uploadId)}${query(key)}`),
    /** Many URLs in one call; each item is signed or refused on its own, answered in request order. */
    batch: (user: string, body: { items: BatchDownloadItem[], expiresIn?: number }) =>
      call<{ items: BatchItemResult[] }>(user, 'POST', '/v1/batch', body)
  }
}

/** A download item of `POST /v1/batch`: the fields of `POST /v1/download-urls`, with `op`. */
export interface BatchDownloadItem {
  op: 'download'
  key: string
  bucket?: string
  method?: 'GET' | 'HEAD'
  disposition?: 'inline' | 'attachment'
  filename?: string
  contentType?: string
}

/** One answer of `POST /v1/batch`: a signed URL (status 200) or that item's problem. */
export type BatchItemResult = ({ status: 200 } & SignedUrl) | { status: number, problem: Problem }

export interface SignedUrl {
  url: string
  method: string
  headers: Record<string, string>
  bucket: string
  key: string
  expiresIn: number
  expiresAt: string
}
