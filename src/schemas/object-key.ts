/**
 * Object keys accepted by r2-signer: 1..1024 UTF-8 bytes (the S3 limit), well-formed
 * Unicode, no control characters, and no path tricks (leading `/`, empty, `.` or `..`
 * segments) that proxies, SDKs or file-system-backed stores treat differently.
 * Everything else S3 allows (spaces, `+ % # ? &`, any script) is kept byte for byte:
 * no Unicode normalization, since NFC and NFD spellings are different keys.
 */
export const MAX_KEY_BYTES = 1024

// C0 controls, DEL and C1 controls.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/

/** An empty, "." or ".." path segment: after the start or a "/", up to the end or the next "/". */
const EMPTY_OR_DOT_SEGMENT = /(?:^|\/)\.{0,2}(?:\/|$)/

export const OBJECT_KEY_RULES = 'an object key is 1 to 1024 UTF-8 bytes of well-formed Unicode, without control characters, a leading "/", or empty, "." or ".." path segments'

export function isValidObjectKey (key: string): boolean {
  return objectKeyFault(key) === undefined
}

/** Which rule a key breaks, in words ("has a control character (U+0007)"), or undefined for a valid key. */
export function objectKeyFault (key: string): string | undefined {
  if (key.length === 0) return 'is empty'
  // A UTF-16 code unit is at most 3 UTF-8 bytes: only a long key needs its bytes counted.
  if (key.length * 3 > MAX_KEY_BYTES) {
    const bytes = Buffer.byteLength(key, 'utf8')
    if (bytes > MAX_KEY_BYTES) return `is ${bytes} UTF-8 bytes long; at most ${MAX_KEY_BYTES} are allowed`
  }
  if (!key.isWellFormed()) return 'is not well-formed Unicode (it has a lone surrogate)'
  const control = CONTROL_CHARACTERS.exec(key)
  if (control !== null) return `has a control character (U+${control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}), which keys may not contain`
  if (key.startsWith('/')) return 'starts with "/"'
  // One scan for the valid key (batches check a thousand); which segment is wrong only when one is.
  if (!EMPTY_OR_DOT_SEGMENT.test(key)) return undefined
  const segments = key.split('/')
  if (segments.includes('')) return 'has an empty path segment ("//" or a trailing "/")'
  if (segments.includes('.')) return 'has a "." path segment'
  return 'has a ".." path segment'
}

/** A download file name: any well-formed text without control characters or path separators. */
export function isValidFilename (name: string): boolean {
  return name.length > 0 && name.isWellFormed() && !CONTROL_CHARACTERS.test(name) && !/[/\\]/.test(name)
}
