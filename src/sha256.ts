import * as crypto from 'node:crypto'

// One-shot crypto.hash (Node >= 20.12) is cheaper than createHash for short inputs (bench/ measures
// the hot paths); engines allows 20.11, so fall back when it is missing.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex' | 'base64') => string }).hash

/** SHA-256 of a string's UTF-8 bytes, as hex or base64. */
export const sha256: (data: string, encoding: 'hex' | 'base64') => string = typeof oneShotHash === 'function'
  ? (data, encoding) => oneShotHash('sha256', data, encoding)
  : (data, encoding) => crypto.createHash('sha256').update(data, 'utf8').digest(encoding)
