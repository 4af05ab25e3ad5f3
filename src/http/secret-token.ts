import { createHash, timingSafeEqual } from 'node:crypto'

/**
 * Constant-time comparison of a presented bearer token with a configured secret (METRICS_TOKEN,
 * ADMIN_TOKEN): both are hashed first, so neither the contents nor the length leak through timing.
 */
export function secretTokenMatches (presented: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest()
  return timingSafeEqual(digest(presented), digest(expected))
}

/** The token of `Authorization: Bearer <token>`, or undefined. */
export function bearerToken (header: string | undefined): string | undefined {
  return /^Bearer (.+)$/i.exec(header ?? '')?.[1]
}
