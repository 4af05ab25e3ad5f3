import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { createSigner } from 'fast-jwt'

/** The HS256 secret the test apps are configured with. */
export const TEST_JWT_SECRET = randomBytes(32).toString('hex')

type Claims = Record<string, unknown>

/** A token for `sub`, valid for `ttlSeconds`, signed with the test secret (or `key`/`algorithm`). */
export function tokenFor (sub: string | undefined, options: { ttlSeconds?: number, claims?: Claims, key?: string, algorithm?: 'HS256' | 'RS256' | 'ES256' | 'EdDSA', kid?: string } = {}): string {
  const now = Math.floor(Date.now() / 1000)
  const payload: Claims = { iat: now, exp: now + (options.ttlSeconds ?? 600), ...options.claims }
  if (sub !== undefined) payload.sub = sub
  const sign = createSigner({
    key: options.key ?? TEST_JWT_SECRET,
    algorithm: options.algorithm ?? 'HS256',
    ...(options.kid !== undefined && { kid: options.kid })
  })
  return sign(payload)
}

/** An unsigned token (`alg: none`), as an attacker would craft it. */
export function unsignedToken (claims: Claims): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims)}.`
}

export function keyPair (type: 'rsa' | 'ec' | 'ed25519') {
  const { publicKey, privateKey } = type === 'rsa'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : generateKeyPairSync('ed25519')
  return {
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicJwk: publicKey.export({ format: 'jwk' })
  }
}

export function bearer (token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` }
}
