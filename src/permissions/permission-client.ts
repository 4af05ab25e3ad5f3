import { EventEmitter } from 'node:events'
import { Pool, type Dispatcher } from 'undici'
import { errorCode } from '../http/error-code.js'
import { readPermissionAnswer } from './answer.js'
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

/** Frozen and shared: a decision carries no per-request data. */
const ALLOWED: PermissionDecision = Object.freeze({ outcome: 'allowed' })
const DENIED: PermissionDecision = Object.freeze({ outcome: 'denied' })
const UNAUTHENTICATED: PermissionDecision = Object.freeze({ outcome: 'unauthenticated' })

export function createPermissionClient ({ url, timeoutMs, maxConnections }: PermissionClientOptions) {
  const target = new URL(url)
  const path = target.pathname + target.search
  const pool = new Pool(target.origin, {
    connections: maxConnections,
    pipelining: 1,
    // The per-check deadline below is what callers rely on; these only bound each phase as well.
    connect: { timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    maxResponseSize: MAX_RESPONSE_BYTES
  })

  /** Asks whether `query` is allowed, forwarding the caller's Authorization header verbatim. */
  async function ask (authorization: string, query: PermissionQuery): Promise<PermissionAnswer> {
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
          body: JSON.stringify(query),
          // No redirect is followed (a 3xx is "unavailable"): it could carry the user's token elsewhere.
          signal
        })
      } catch (error) {
        return notReusable(unavailable(timedOut ? 'timeout' : `connection error (${errorCode(error)})`))
      }

      const { statusCode, headers, body } = response
      try {
        if (statusCode === 401) return notReusable(UNAUTHENTICATED)
        if (statusCode === 403) return { decision: DENIED, maxAgeSeconds: maxAge(headers) }
        if (statusCode !== 200) return notReusable(unavailable(`status ${statusCode}`))
        // The raw bytes: body.text() would silently drop a byte order mark and mend bad UTF-8.
        const answer = readPermissionAnswer(new Uint8Array(await body.arrayBuffer()))
        if (!answer.ok) return notReusable(unavailable(`malformed answer: ${answer.problem}`))
        const decision = !answer.allowed ? DENIED : answer.limits === undefined ? ALLOWED : Object.freeze({ outcome: 'allowed' as const, limits: answer.limits })
        return { decision, maxAgeSeconds: maxAge(headers) }
      } catch {
        return notReusable(unavailable(timedOut ? 'timeout' : 'unreadable answer'))
      } finally {
        // Release the connection whatever we read of the body (a small rest is drained, keeping the socket).
        if (!body.bodyUsed) body.dump({ limit: MAX_RESPONSE_BYTES }).catch(() => {})
      }
    } finally {
      clearTimeout(timer)
    }
  }

  return {
    ask,
    /** Closes the pool's sockets (after in-flight checks complete). */
    async close (): Promise<void> {
      await pool.close()
    }
  }
}

export type PermissionClient = ReturnType<typeof createPermissionClient>

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
