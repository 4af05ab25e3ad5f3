import { createPublicKey, type KeyObject, type webcrypto } from 'node:crypto'
import { Agent, request } from 'undici'
import type { JwtAlgorithm } from '../config/config.js'

/**
 * The signing keys of a JWKS (JWT_JWKS_URL), by `kid`. Built so that tokens an attacker makes up
 * cannot turn into fetches or push real keys out:
 * - an `alg` outside the accepted ones is refused before anything else (no fetch);
 * - the known keys are exactly what the last good JWKS document published (at most MAX_KEYS, each
 *   checked and converted once): unknown kids are never stored, so they cannot evict anything;
 * - the document is fetched when first needed, again after MAX_AGE_MS (known keys are refreshed
 *   for rotation and withdrawal), and when a kid is unknown, but at most once per `minRefetchMs`
 *   (JWT_JWKS_MIN_REFETCH_SECONDS) whatever the reason: other unknown kids in between are refused
 *   at once, and concurrent lookups share one fetch;
 * - when a fetch fails, the keys of the last good document stay usable up to 2 × MAX_AGE_MS.
 */
export type KeyLookup =
  | { found: true, pem: string }
  | { found: false, reason: 'unsupported-alg' | 'unknown-kid' | 'alg-mismatch' | 'unavailable' }

export interface JwksKeysOptions {
  url: URL
  algorithms: readonly JwtAlgorithm[]
  /** Least time between two fetches of the document; 0: no limit. */
  minRefetchMs: number
  timeoutMs: number
  now?: () => number
}

interface KnownKey { alg: JwtAlgorithm, pem: string }

const MAX_AGE_MS = 10 * 60_000
const MAX_KEYS = 100
const MAX_DOCUMENT_BYTES = 256 * 1024

export function createJwksKeys ({ url, algorithms, minRefetchMs, timeoutMs, now = Date.now }: JwksKeysOptions) {
  const accepted = new Set<string>(algorithms)
  // A JWKS endpoint that accepts but never answers must not hold requests: bound every phase.
  const dispatcher = new Agent({ connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, maxResponseSize: MAX_DOCUMENT_BYTES })
  let keys = new Map<string, KnownKey>()
  let fetchedAt = -Infinity
  let attemptedAt = -Infinity
  let inFlight: Promise<boolean> | undefined

  /** Fetches the document (one at a time); resolves whether it succeeded. */
  function refresh (): Promise<boolean> {
    if (inFlight !== undefined) return inFlight
    attemptedAt = now()
    inFlight = fetchKeys(url, dispatcher).then((fetched) => {
      keys = fetched
      fetchedAt = now()
      return true
    }, () => false).finally(() => { inFlight = undefined })
    return inFlight
  }

  function lookUp (kid: string, alg: string, source: Map<string, KnownKey>): KeyLookup {
    const key = source.get(kid)
    if (key === undefined) return { found: false, reason: 'unknown-kid' }
    return key.alg === alg ? { found: true, pem: key.pem } : { found: false, reason: 'alg-mismatch' }
  }

  async function keyFor (kid: string, alg: string): Promise<KeyLookup> {
    if (!accepted.has(alg)) return { found: false, reason: 'unsupported-alg' }
    const fresh = now() - fetchedAt < MAX_AGE_MS
    if (fresh && keys.has(kid)) return lookUp(kid, alg, keys)
    const mayFetch = inFlight !== undefined || now() - attemptedAt >= minRefetchMs
    if (mayFetch) {
      if (await refresh()) return lookUp(kid, alg, keys)
    } else if (fresh) {
      return { found: false, reason: 'unknown-kid' }
    }
    // The document could not be fetched (now or recently): the last good keys, for a while.
    if (now() - fetchedAt < 2 * MAX_AGE_MS && keys.has(kid)) return lookUp(kid, alg, keys)
    return { found: false, reason: 'unavailable' }
  }

  return {
    keyFor,
    async close (): Promise<void> { await dispatcher.close() }
  }
}

export type JwksKeys = ReturnType<typeof createJwksKeys>

async function fetchKeys (url: URL, dispatcher: Agent): Promise<Map<string, KnownKey>> {
  // undici's request never follows redirects: a 3xx is a failure like any other non-200.
  const response = await request(url, { dispatcher, headers: { accept: 'application/json' } })
  if (response.statusCode !== 200) {
    await response.body.dump()
    throw new Error(`JWKS answered ${response.statusCode}`)
  }
  const document = await response.body.json() as { keys?: unknown }
  if (!Array.isArray(document?.keys)) throw new Error('not a JWKS document')
  const usable = new Map<string, KnownKey>()
  const ambiguous = new Set<string>()
  for (const jwk of document.keys.slice(0, MAX_KEYS) as unknown[]) {
    const kid = (jwk as { kid?: unknown } | null)?.kid
    if (typeof kid !== 'string') continue
    // Two keys under one kid: which one signed is ambiguous, use neither.
    if (usable.has(kid) || ambiguous.has(kid)) {
      usable.delete(kid)
      ambiguous.add(kid)
      continue
    }
    const key = usableKey(jwk as webcrypto.JsonWebKey & { use?: unknown })
    if (key !== undefined) usable.set(kid, key)
  }
  return usable
}

/** A signing key of an accepted type, with the one algorithm it is used with; undefined otherwise. */
function usableKey (jwk: webcrypto.JsonWebKey & { use?: unknown }): KnownKey | undefined {
  if (jwk.use !== undefined && jwk.use !== 'sig') return undefined
  let key: KeyObject
  try {
    // node:crypto reads RSA, EC and Ed25519 (OKP) JWKs.
    key = createPublicKey({ key: jwk, format: 'jwk' })
  } catch {
    return undefined
  }
  const alg = algorithmFor(key)
  // A JWK's own alg, when present, must agree: no key is used with two algorithms.
  if (alg === undefined || (jwk.alg !== undefined && jwk.alg !== alg)) return undefined
  return { alg, pem: key.export({ type: 'spki', format: 'pem' }).toString() }
}

function algorithmFor (key: KeyObject): JwtAlgorithm | undefined {
  if (key.type !== 'public') return undefined
  if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) return 'RS256'
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256'
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA'
  return undefined
}
