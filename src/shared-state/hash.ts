import { createHash } from 'node:crypto'

/**
 * SHA-256, base64url: how anything personal or secret (a subject, a client address, a
 * decision's Authorization header and query) becomes part of a Redis key. Fixed length,
 * safe in key names, and the original cannot be read back from Redis.
 */
export function keyHash (value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url')
}
