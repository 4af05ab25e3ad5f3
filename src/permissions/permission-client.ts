import { EventEmitter } from 'node:events'
import { Pool, type Dispatcher } from 'undici'
import { errorCode } from '../http/error-code.js'
import { readBatchPermissionAnswer, readPermissionAnswer, type PermissionAnswerBody } from './answer.js'
import type { UploadLimits } from '../uploads/policy.js'

/**
 * The HTTP client for the permission service (the contract is in docs/permission-service.md
 * and examples/permission-service). It fails closed: only a 200 whose strictly parsed JSON body
 * (./answer.ts) has `allowed === true` is an allow; anything unclear is "unavailable", never "allowed".
 *
 * One keep-alive connection pool (undici) per client, at most `maxConnections` sockets;
 * PERMISSIONS_TIMEOUT_MS bounds each whole check: waiting for a socket, connecting,
 * the answer's headers and its body. undici's `request` never follows redirects.
 */
export type PermissionAction = 'read' | 'write'

export interface PermissionQuery {
  subject: string
  action: PermissionAction
  bucket: string
  key: string
}

export type PermissionDecision =
  /** `limits`: the upload limits the permission service set for this request (src/uploads/policy.ts). */
  | { outcome: 'allowed', limits?: UploadLimits }
  | { outcome: 'denied' }
  | { outcome: 'unauthenticated' }
  | { outcome: 'unavailable', reason: string }

/** A decision and how long the permission service lets us reuse it (0: not at all). */
export interface PermissionAnswer {
  decision: PermissionDecision
  maxAgeSeconds: number
}

export interface PermissionClientOptions {
  url: string
  timeoutMs: number
  /** Most sockets open to the permission service at once (PERMISSIONS_MAX_CONNECTIONS); further checks wait for one (within their timeout). */
  maxConnections: number
}

/** Decisions are a few bytes; anything much larger is not an answer we trust. */
const MAX_RESPONSE_BYTES = 64 * 1024
/** What a batch answer may add per check (a result with its limits). */
const MAX_RESULT_BYTES = 1024

/** Frozen and shared: a decision carries no per-request data. */
const ALLOWED: PermissionDecision = Object.freeze({ outcome: 'allowed' })
const DENIED: PermissionDecision = Object.freeze({ outcome: 'denied' })
const UNAUTHENTICATED: PermissionDecision = Object.freeze({ outcome: 'unauthenticated' })

export function createPermissionClient ({ url, timeoutMs, maxConnections }: PermissionClientOptions) {
  const endpoint = createEndpoint(url, timeoutMs, maxConnections, MAX_RESPONSE_BYTES)

  /** Asks whether `query` is allowed, forwarding the caller's Authorization header verbatim. */
  async function ask (authorization: string, query: PermissionQuery): Promise<PermissionAnswer> {
    return await endpoint.exchange(authorization, JSON.stringify(query), MAX_RESPONSE_BYTES, (bytes, headers) => {
      const answer = readPermissionAnswer(bytes)
      if (!answer.ok) return notReusable(unavailable(`malformed answer: ${answer.problem}`))
      return { decision: decisionOf(answer), maxAgeSeconds: maxAge(headers) }
    }, (decision) => decision)
  }

  return {
    ask,
    /** Closes the pool's sockets (after in-flight checks complete). */
    close: endpoint.close
  }
}

/**
 * The client of the batch endpoint (PERMISSIONS_BATCH_URL): `POST {checks: [query, …]}` with the
 * caller's Authorization → 200 `{results: [{allowed}, …]}` of the same length and order. Its
 * Cache-Control applies to every result; 401 and 403 answer every check alike. Fails closed as a
 * whole: a malformed answer, a timeout or any other status makes every check "unavailable".
 */
export function createBatchPermissionClient ({ url, timeoutMs, maxConnections }: PermissionClientOptions) {
  const endpoint = createEndpoint(url, timeoutMs, maxConnections, MAX_RESPONSE_BYTES)

  async function askMany (authorization: string, queries: readonly PermissionQuery[]): Promise<PermissionAnswer[]> {
    if (queries.length === 0) return []
    const same = (answer: PermissionAnswer) => queries.map(() => answer)
    return await endpoint.exchange(authorization, JSON.stringify({ checks: queries }), MAX_RESPONSE_BYTES + queries.length * MAX_RESULT_BYTES, (bytes, headers) => {
      const answer = readBatchPermissionAnswer(bytes, queries.length)
      if (!answer.ok) return same(notReusable(unavailable(`malformed batch answer: ${answer.problem}`)))
      const maxAgeSeconds = maxAge(headers)
      return answer.results.map((result) => ({ decision: decisionOf(result), maxAgeSeconds }))
    }, same)
  }

  return {
    askMany,
    close: endpoint.close
  }
}

export type BatchPermissionClient = ReturnType<typeof createBatchPermissionClient>

/**
 * One permission-service endpoint: a keep-alive pool and the exchange every check makes with it
 * (POST JSON, one deadline, status mapping). `read` turns a 200's raw bytes into answers; `all`
 * spreads one answer (401, 403, a failure) over what was asked.
 */
function createEndpoint (url: string, timeoutMs: number, maxConnections: number, maxResponseBytes: number) {
  const target = new URL(url)
  const path = target.pathname + target.search
  const pool = new Pool(target.origin, {
    connections: maxConnections,
    pipelining: 1,
    // The per-check deadline below is what callers rely on; these only bound each phase as well.
    connect: { timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs
  })

  async function exchange<T> (authorization: string, body: string, limit: number, read: (bytes: Uint8Array, headers: Record<string, string | string[] | undefined>) => T, all: (answer: PermissionAnswer) => T): Promise<T> {
    // One deadline for the whole check (queueing for a socket included). undici also takes an
    // EventEmitter as its abort signal, far cheaper per check than an AbortController.
    const signal = new EventEmitter()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      signal.emit('abort')
    }, timeoutMs)
    try {
      let response: Dispatcher.ResponseData
      try {
        response = await pool.request({
          path,
          method: 'POST',
          headers: { authorization, 'content-type': 'application/json', accept: 'application/json' },
          body,
          // No redirect is followed (a 3xx is "unavailable"): it could carry the user's token elsewhere.
          signal
        })
      } catch (error) {
        return all(notReusable(unavailable(timedOut ? 'timeout' : `connection error (${errorCode(error)})`)))
      }

      const { statusCode, headers, body: answer } = response
      try {
        if (statusCode === 401) return all(notReusable(UNAUTHENTICATED))
        if (statusCode === 403) return all({ decision: DENIED, maxAgeSeconds: maxAge(headers) })
        if (statusCode !== 200) return all(notReusable(unavailable(`status ${statusCode}`)))
        const length = Number(headers['content-length'])
        if (length > limit) return all(notReusable(unavailable('answer too large')))
        // The raw bytes: body.text() would silently drop a byte order mark and mend bad UTF-8.
        const bytes = await readAtMost(answer, limit)
        if (bytes === undefined) return all(notReusable(unavailable('answer too large')))
        return read(bytes, headers)
      } catch {
        return all(notReusable(unavailable(timedOut ? 'timeout' : 'unreadable answer')))
      } finally {
        // Release the connection whatever we read of the body (a small rest is drained, keeping the socket).
        if (!answer.bodyUsed) answer.dump({ limit: MAX_RESPONSE_BYTES }).catch(() => {})
      }
    } finally {
      clearTimeout(timer)
    }
  }

  return {
    exchange,
    /** Closes the pool's sockets (after in-flight checks complete). */
    async close (): Promise<void> {
      await pool.close()
    }
  }
}

/** The body's bytes, or undefined (and the rest destroyed) once it passes `limit`. */
async function readAtMost (body: Dispatcher.ResponseData['body'], limit: number): Promise<Uint8Array | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) {
      body.destroy()
      return undefined
    }
    chunks.push(chunk)
  }
  return new Uint8Array(Buffer.concat(chunks, size))
}

export type PermissionClient = ReturnType<typeof createPermissionClient>

/** Allowed (with the answer's upload limits, if any) or denied. */
function decisionOf (answer: Extract<PermissionAnswerBody, { ok: true }>): PermissionDecision {
  if (!answer.allowed) return DENIED
  return answer.limits === undefined ? ALLOWED : Object.freeze({ outcome: 'allowed' as const, limits: answer.limits })
}

function unavailable (reason: string): PermissionDecision {
  return { outcome: 'unavailable', reason }
}

function notReusable (decision: PermissionDecision): PermissionAnswer {
  return { decision, maxAgeSeconds: 0 }
}

/**
 * How long an answer may be reused, from its Cache-Control (RFC 9111 §5.2.2) minus its Age:
 * `max-age=N` with N > 0 and neither `no-store` nor `no-cache` (we never revalidate).
 * `private` is fine: r2-signer is the only consumer and the cache key includes the token.
 * No header, no max-age, or anything unclear (a bad or repeated max-age): 0, not reused.
 */
export function maxAge (headers: Record<string, string | string[] | undefined>): number {
  const header = headers['cache-control']
  if (header === undefined) return 0
  let seconds: number | undefined
  for (const part of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const [rawName = '', ...rest] = part.split('=')
    const name = rawName.trim().toLowerCase()
    if (name === 'no-store' || name === 'no-cache') return 0
    if (name !== 'max-age') continue
    const value = /^\s*"?(\d{1,9})"?\s*$/.exec(rest.join('='))?.[1]
    if (value === undefined || (seconds !== undefined && seconds !== Number(value))) return 0
    seconds = Number(value)
  }
  if (seconds === undefined) return 0
  const ageHeader = headers.age
  const age = typeof ageHeader === 'string' && /^\d{1,9}$/.test(ageHeader.trim()) ? Number(ageHeader.trim()) : 0
  return Math.max(0, seconds - age)
}
