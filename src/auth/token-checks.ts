/**
 * Checks on a JWT that signature verification (fast-jwt) does not make.
 *
 * One spelling per signature: base64url leaves some bits of the last character unused (2 for a
 * 32-byte HS256 MAC, 4 for the 64 bytes of ES256 and EdDSA and for 256-byte RS256 signatures), and
 * decoders ignore them, so flipping them gives up to 15 other tokens that verify. A token is the key
 * of the verified-token cache and may be logged or denylisted by its hash elsewhere: accept only the
 * canonical encoding (what re-encoding the decoded bytes gives back), whatever the algorithm.
 *
 * Time claims: JSON allows `exp: 1e400`, which JavaScript reads as Infinity, never expiring; and an
 * issuer's misconfiguration or a token minted for years should not be honoured that long. So `exp`, `nbf`
 * and `iat` must be non-negative integers of safe size, and `exp` at most `maxLifetimeSeconds` ahead.
 */
export function hasCanonicalSignature (token: string): boolean {
  const signature = token.slice(token.lastIndexOf('.') + 1)
  return Buffer.from(signature, 'base64url').toString('base64url') === signature
}

const TIME_CLAIMS = ['exp', 'nbf', 'iat'] as const

/** What is wrong with the verified token's time claims, in words, or undefined when nothing is. */
export function timeClaimsProblem (claims: Record<string, unknown>, nowSeconds: number, maxLifetimeSeconds: number): string | undefined {
  for (const name of TIME_CLAIMS) {
    const value = claims[name]
    if (value === undefined && name !== 'exp') continue
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) return `The token's ${name} claim must be a whole number of seconds.`
  }
  if ((claims.exp as number) - nowSeconds > maxLifetimeSeconds) return `The token's exp is more than ${maxLifetimeSeconds} seconds ahead.`
  return undefined
}
