import fp from 'fastify-plugin'
import fastifyJwt, { type FastifyJWTOptions } from '@fastify/jwt'
import type { FastifyRequest } from 'fastify'
import type { JwtConfig } from '../config/config.js'
import { HttpProblem } from '../http/problem.js'
import { createJwksKeys, type JwksKeys } from './jwks-keys.js'
import { hasCanonicalSignature, timeClaimsProblem } from './token-checks.js'

/** The claims r2-signer relies on; everything else in the token is passed along untouched. */
export interface UserClaims {
  sub: string
  exp: number
  [claim: string]: unknown
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    /** What `app.jwt.sign` takes (only dev mode signs: exp comes from its expiresIn option). */
    payload: { sub: string, [claim: string]: unknown }
    user: UserClaims
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook: verifies the bearer token or answers 401. */
    authenticate: (request: FastifyRequest) => Promise<void>
  }
}

const REALM = 'Bearer realm="r2-signer"'
const JWKS_TIMEOUT_MS = 5_000
/** `Bearer <JWS compact serialization>`: three base64url parts. */
const BEARER = /^Bearer +([A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*) *$/i
const BAD_HEADER = 'The Authorization header must be "Bearer <token>".'
/**
 * Longest a verified token is remembered (exp usually ends it sooner). In JWKS mode the key is
 * still resolved on every request, before the cache is consulted, so a withdrawn key is refused as
 * soon as the key set drops it (./jwks-keys.ts: within 10 minutes), whatever this cache holds.
 */
const JWT_CACHE_TTL_MS = 5 * 60_000

/**
 * Verifies `Authorization: Bearer <JWT>` with @fastify/jwt (fast-jwt).
 * Algorithms are pinned to the configured key type, `sub` and `exp` are required,
 * and `iss`/`aud` are enforced when configured.
 */
export default fp(async function jwtAuth (app) {
  const config = app.config.jwt
  const jwksKeys = config.kind === 'jwks'
    ? createJwksKeys({ url: config.jwksUrl, algorithms: config.algorithms, minRefetchMs: config.minRefetchSeconds * 1000, timeoutMs: JWKS_TIMEOUT_MS })
    : undefined
  if (jwksKeys !== undefined) app.addHook('onClose', async () => { await jwksKeys.close() })
  await app.register(fastifyJwt, jwtPluginOptions(config, jwksKeys))

  // With a static key, app.jwt.verify is the plugin's prebuilt verifier (and its cache) called
  // directly: request.jwtVerify would first decode the token and merge options on every request,
  // the largest cost left on a cached hit. JWKS keys depend on the token header, so that mode
  // goes through request.jwtVerify and its key resolver.
  const verifyBearer = config.kind === 'jwks'
    ? async (request: FastifyRequest) => { await request.jwtVerify() }
    : async (request: FastifyRequest, token: string) => {
      request.user = freezeClaims(app.jwt.verify<UserClaims>(token))
    }

  /**
   * Every failed authentication counts against the client address' budget
   * (RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE); over it, 429 instead of 401, and from then until the
   * window ends the address is refused before its token is verified (src/shared-state/plugin.ts).
   */
  app.decorate('authenticate', async function authenticate (request: FastifyRequest) {
    const blocked = app.rateLimits.blockedAddress(request)
    if (blocked !== undefined) throw blocked
    try {
      await verifyRequest(request)
    } catch (error) {
      if (error instanceof HttpProblem && error.code === 'UNAUTHORIZED') throw await app.rateLimits.failedAuthentication(request) ?? error
      throw error
    }
  })

  async function verifyRequest (request: FastifyRequest): Promise<void> {
    const header = request.headers.authorization
    if (header === undefined) {
      // RFC 6750 §3.1: no error code when the request carried no credentials at all.
      throw new HttpProblem('UNAUTHORIZED', 'A bearer token is required.', { 'www-authenticate': REALM })
    }
    const token = BEARER.exec(header)?.[1]
    if (token === undefined) throw invalidToken(BAD_HEADER)
    if (!hasCanonicalSignature(token)) throw invalidToken('The token signature is not canonical base64url.')
    try {
      await verifyBearer(request, token)
    } catch (error) {
      throw tokenProblem(error)
    }
    // After verification (and its cache): fast-jwt accepts exp 1e400 (Infinity) and any lifetime.
    const timeProblem = timeClaimsProblem(request.user, Math.floor(Date.now() / 1000), config.maxLifetimeSeconds)
    if (timeProblem !== undefined) throw invalidToken(timeProblem)
    if (typeof request.user.sub !== 'string' || request.user.sub === '') {
      throw invalidToken('The token has no usable sub claim.')
    }
  }
}, { name: 'auth', dependencies: ['config', 'shared-state'] })

function jwtPluginOptions (config: JwtConfig, jwksKeys: JwksKeys | undefined): FastifyJWTOptions {
  const verify = {
    algorithms: config.algorithms,
    // fast-jwt checks iss/aud only when present: require them whenever they are enforced.
    requiredClaims: ['sub', 'exp', ...(config.issuer !== undefined ? ['iss'] : []), ...(config.audience !== undefined ? ['aud'] : [])],
    ...(config.issuer !== undefined && { allowedIss: config.issuer }),
    ...(config.audience !== undefined && { allowedAud: config.audience }),
    // fast-jwt's verified-token cache (LRU, keyed by the token's SHA-2 hash): a repeat skips the
    // signature check (docs/performance.md has the figures). An entry never outlives the token's
    // exp (or nbf before it); failures are not cached (errorCacheTTL stays fast-jwt's default, -1, since
    // verify is given).
    ...(config.cacheMaxEntries > 0 && { cache: config.cacheMaxEntries, cacheTTL: JWT_CACHE_TTL_MS })
  }
  const formatUser = freezeClaims
  switch (config.kind) {
    case 'secret':
      return { secret: config.secret, verify, formatUser }
    case 'public-key':
      return { secret: { public: config.publicKey, private: '' }, verify, formatUser }
    case 'jwks':
      // @fastify/jwt calls a function secret as (request, decodedToken); its types only describe one argument.
      // decode.complete: the key resolver needs the token header (kid, alg), not just the payload.
      return { secret: jwksKeyResolver(jwksKeys as JwksKeys) as unknown as FastifyJWTOptions['secret'], decode: { complete: true }, verify, formatUser }
  }
}

/** Resolves a token's key from the JWKS by `kid` (./jwks-keys.ts); refusals are 401, a JWKS that cannot be fetched 503. */
function jwksKeyResolver (keys: JwksKeys) {
  return async (_request: FastifyRequest, token: { header: { kid?: unknown, alg?: unknown } }): Promise<string> => {
    const { kid, alg } = token.header
    if (typeof kid !== 'string' || typeof alg !== 'string') throw invalidToken('The token header has no kid or alg.')
    const lookup = await keys.keyFor(kid, alg)
    if (lookup.found) return lookup.pem
    switch (lookup.reason) {
      case 'unsupported-alg':
        throw invalidToken('The token is not signed with an accepted algorithm.')
      case 'alg-mismatch':
        throw invalidToken("The token's alg does not match its key.")
      case 'unknown-kid':
        throw invalidToken('The token was signed by an unknown key.')
      case 'unavailable':
        throw new HttpProblem('TOKEN_KEYS_UNAVAILABLE')
    }
  }
}

/**
 * A cache hit returns the same payload object to every request with that token: make it read-only.
 * (sub and exp are required claims, so the verified payload is a UserClaims.)
 */
function freezeClaims (payload: object): UserClaims {
  return Object.freeze(payload) as UserClaims
}

function invalidToken (detail: string): HttpProblem {
  return new HttpProblem('UNAUTHORIZED', detail, { 'www-authenticate': `${REALM}, error="invalid_token"` })
}

/** Maps @fastify/jwt and fast-jwt errors to a 401 whose detail never echoes the token. */
function tokenProblem (error: unknown): HttpProblem {
  const original = (error as { originalError?: unknown }).originalError
  if (original instanceof HttpProblem) return original
  if (error instanceof HttpProblem) return error
  const code = (error as { code?: string }).code
  switch (code) {
    case 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED':
    case 'FAST_JWT_EXPIRED':
      return invalidToken('The token has expired.')
    case 'FAST_JWT_INACTIVE':
      return invalidToken('The token is not valid yet.')
    case 'FST_JWT_NO_AUTHORIZATION_IN_HEADER':
    case 'FST_JWT_BAD_REQUEST':
      return invalidToken(BAD_HEADER)
    case 'FAST_JWT_INVALID_ALGORITHM':
    case 'FAST_JWT_MISSING_SIGNATURE':
      return invalidToken('The token is not signed with an accepted algorithm.')
    case 'FAST_JWT_MISSING_REQUIRED_CLAIM':
      return invalidToken('The token lacks a required claim (sub, exp).')
    default:
      return invalidToken('The token is invalid.')
  }
}
