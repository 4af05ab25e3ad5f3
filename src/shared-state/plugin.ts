import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { HttpProblem } from '../http/problem.js'
import { clientAddress } from '../http/client-address.js'
import { createSharedState, type SharedState } from './index.js'
import type { RateLimitDecision } from './rate-limit.js'

/**
 * The state instances share (./index.ts), created once per app and closed with it, and the rate
 * limits as the routes use them:
 * - `app.rateLimits.consumeUrls(request, n)`: takes n URLs from the subject's budget
 *   (RATE_LIMIT_URLS_PER_MINUTE) or throws 429 RATE_LIMITED. A single URL route counts 1,
 *   part URLs count their part numbers, a batch its items.
 * - `app.rateLimits.blockedAddress(request)` / `failedAuthentication(request)`: the
 *   per-address budget of failed authentications (RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE), used by
 *   the auth step (src/auth/plugin.ts). Once an address has spent it, its requests are refused
 *   before their token is verified, until the window ends: token floods cost no signature checks.
 * With Redis unavailable the limits fail open (./rate-limit.ts logs once per outage; a metric counts).
 */
export interface RateLimits {
  consumeUrls: (request: FastifyRequest, units: number) => Promise<void>
  /** 429 when the request's address has no failed authentication left this window (no I/O). */
  blockedAddress: (request: FastifyRequest) => HttpProblem | undefined
  /** Counts a failed authentication; the 429 to answer instead of the 401 when over the limit. */
  failedAuthentication: (request: FastifyRequest) => Promise<HttpProblem | undefined>
}

declare module 'fastify' {
  interface FastifyInstance {
    sharedState: SharedState
    rateLimits: RateLimits
  }
}

export interface SharedStatePluginOptions {
  /** Rate-limit window in ms (default a minute); only tests change it. */
  rateLimitWindowMs?: number
}

/** Startup waits this long for the first revocation sync, so the first requests are not refused for it. */
const FIRST_SYNC_WAIT_MS = 2000
/** Addresses remembered as over their failed-authentication budget (a bound on memory under a spread flood). */
const MAX_BLOCKED_ADDRESSES = 10_000

export function rateLimitHeaders (decision: RateLimitDecision): Record<string, string> {
  return {
    'retry-after': String(decision.resetSeconds),
    'ratelimit-limit': String(decision.limit),
    'ratelimit-remaining': String(decision.remaining),
    'ratelimit-reset': String(decision.resetSeconds)
  }
}

export default fp<SharedStatePluginOptions>(async function sharedStatePlugin (app, options) {
  const { metrics } = app
  const state = createSharedState(app.config, app.log, {
    onRateLimitFailOpen: (limit) => metrics.rateLimitFailOpen.inc({ limit }),
    onSharedDecisionFailure: () => metrics.sharedDecisionFailures.inc()
  }, { rateLimitWindowMs: options.rateLimitWindowMs })
  app.decorate('sharedState', state)
  app.addHook('onClose', async () => { await state.close() })

  // Without Redis, createSharedState has said at startup that revocations and limits live in memory.
  if (state.kind === 'redis') {
    app.addHook('onReady', async () => {
      if (!await state.revocations.whenAvailable(FIRST_SYNC_WAIT_MS)) {
        app.log.warn('revocations not synchronised with Redis yet: URL requests are refused (503) until they are, unless REVOCATION_FAIL_OPEN=true')
      }
    })
  }

  const { trustProxy } = app.config
  const addressOf = (request: FastifyRequest) => clientAddress(request.headers, request.socket.remoteAddress, trustProxy)
  /** Address → until when (ms) it is refused without verifying its token. */
  const blocked = new Map<string, number>()

  const rateLimits: RateLimits = {
    async consumeUrls (request, units) {
      const decision = await state.urlLimiter.consume(request.user.sub, units)
      if (decision.allowed) return
      metrics.rateLimited.inc({ limit: 'urls' })
      const detail = units > decision.limit
        ? `This request asks for ${units} URLs; at most ${decision.limit} are allowed per minute.`
        : `Too many URLs this minute: at most ${decision.limit} per minute; retry after ${decision.resetSeconds} seconds.`
      throw new HttpProblem('RATE_LIMITED', detail, rateLimitHeaders(decision))
    },
    blockedAddress (request) {
      if (blocked.size === 0) return undefined
      const address = addressOf(request)
      const until = blocked.get(address)
      if (until === undefined) return undefined
      const now = Date.now()
      if (until <= now) {
        blocked.delete(address)
        return undefined
      }
      metrics.rateLimited.inc({ limit: 'unauthenticated' })
      const resetSeconds = Math.max(1, Math.ceil((until - now) / 1000))
      return unauthenticatedProblem({ allowed: false, limit: state.unauthenticatedLimiter.limit, remaining: 0, resetSeconds })
    },
    async failedAuthentication (request) {
      const address = addressOf(request)
      const decision = await state.unauthenticatedLimiter.consume(address)
      if (decision.allowed) return undefined
      if (blocked.size >= MAX_BLOCKED_ADDRESSES) blocked.clear()
      blocked.set(address, Date.now() + decision.resetSeconds * 1000)
      metrics.rateLimited.inc({ limit: 'unauthenticated' })
      return unauthenticatedProblem(decision)
    }
  }
  app.decorate('rateLimits', rateLimits)
}, { name: 'shared-state', dependencies: ['config', 'metrics'] })

function unauthenticatedProblem (decision: RateLimitDecision): HttpProblem {
  return new HttpProblem('RATE_LIMITED', `Too many requests that failed authentication from this address: at most ${decision.limit} per minute; retry after ${decision.resetSeconds} seconds.`, rateLimitHeaders(decision))
}
