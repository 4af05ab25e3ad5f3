/**
 * Builds a Content-Disposition value per RFC 6266: a plain `filename` when the name
 * is safe ASCII; otherwise an ASCII fallback plus `filename*` (RFC 8187, UTF-8),
 * which every current browser prefers.
 */
export type Disposition = 'inline' | 'attachment'

const SAFE_ASCII_FILENAME = /^[\x20-\x7e]+$/
// Quotes and backslashes need escaping, and some user agents percent-decode filename=.
const UNSAFE_IN_QUOTED_FILENAME = /["\\%]/

export function contentDisposition (disposition: Disposition, filename?: string): string {
  if (filename === undefined) return disposition
  if (SAFE_ASCII_FILENAME.test(filename) && !UNSAFE_IN_QUOTED_FILENAME.test(filename)) {
    return `${disposition}; filename="${filename}"`
  }
  const fallback = filename.replace(/[^\x20-\x7e]|["\\%]/gu, '_')
  return `${disposition}; filename="${fallback}"; filename*=UTF-8''${encodeRfc8187(filename)}`
}

/** RFC 8187 attr-char: encodeURIComponent leaves ' ( ) * unescaped, which attr-char forbids. */
function encodeRfc8187 (value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}
