import type { FastifyInstance } from 'fastify'
import { HttpProblem } from '../../http/problem.js'

/** Route schema parts every /v1 operation shares (cf. supabase/storage's route helpers). */
export const bearerAuth = [{ bearerAuth: [] }]

/**
 * The lifetime a request asks for, or SIGNED_URL_TTL_SECONDS; 400 INVALID_EXPIRES_IN above
 * SIGNED_URL_MAX_TTL_SECONDS (the schema already bounds it by SigV4's 7 days).
 */
export function resolveExpiresIn (app: FastifyInstance, requested: number | undefined): number {
  const { defaultTtlSeconds, maxTtlSeconds } = app.config.signedUrls
  const expiresIn = requested ?? defaultTtlSeconds
  if (expiresIn > maxTtlSeconds) throw new HttpProblem('INVALID_EXPIRES_IN', `body.expiresIn must be at most ${maxTtlSeconds} seconds (SIGNED_URL_MAX_TTL_SECONDS).`)
  return expiresIn
}
