import fp from 'fastify-plugin'
import cors from '@fastify/cors'

/** What a page calling the API sends: its token, JSON bodies, and optionally its own request id. */
export const CORS_ALLOWED_HEADERS = ['authorization', 'content-type', 'x-request-id']

/**
 * What a page may read from answers: the request id (to quote in a support request), Retry-After on a
 * 503 or 429, and the rate-limit headers (RFC draft `RateLimit-*`).
 */
export const CORS_EXPOSED_HEADERS = ['x-request-id', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']

/** The methods of r2-signer's routes. */
export const CORS_METHODS = ['GET', 'HEAD', 'POST', 'DELETE']

/**
 * CORS for browsers calling r2-signer directly (their token is the user's JWT), from the exact
 * origins of CORS_ORIGINS only; without any, no CORS header is ever sent and browsers on other
 * origins cannot read an answer. Preflights are answered in an onRequest hook at the root, before
 * (and outside) the /v1 token check: a preflight carries no token, and answers 204.
 * Any OPTIONS request is answered as a preflight (not @fastify/cors' strict text/plain 400): an
 * OPTIONS without Origin asks what the resource allows, which the same headers say.
 */
export default fp(async function corsPlugin (app) {
  const { origins, maxAgeSeconds } = app.config.cors
  if (origins.length === 0) return
  await app.register(cors, {
    origin: [...origins],
    methods: CORS_METHODS,
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    maxAge: maxAgeSeconds,
    strictPreflight: false
  })
}, { name: 'cors', dependencies: ['config'] })
