/**
 * A strict JSON reader (RFC 8259) for answers other services send us, where two readers must
 * never disagree about what a document says. Unlike JSON.parse it refuses what is ambiguous:
 * - a key repeated in one object, at any depth (`{"allowed": false, "allowed": true}`:
 *   JSON.parse keeps the last, other parsers the first);
 * - a byte order mark (RFC 8259 §8.1: senders MUST NOT add one), and bytes that are not UTF-8;
 * - a lone surrogate escape (`"\ud800"`: not a Unicode string), a number that overflows to Infinity;
 * - nesting deeper than `maxDepth`.
 * Objects come back with a null prototype, so a key like `__proto__` or `constructor` is just data.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject
export interface JsonObject { [key: string]: JsonValue }

export class StrictJsonError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'StrictJsonError'
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
const WHITESPACE = /[ \t\n\r]*/y
// eslint-disable-next-line no-control-regex -- control characters are what JSON strings may not contain raw
const PLAIN_CHARS = /[^"\\\x00-\x1f]*/y
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }

/** Decodes `bytes` as UTF-8 (no BOM) and parses them strictly; throws StrictJsonError saying what was wrong. */
export function parseStrictJsonBytes (bytes: Uint8Array, options?: { maxDepth?: number }): JsonValue {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) throw new StrictJsonError('byte order mark')
  let text: string
  try {
    text = UTF8.decode(bytes)
  } catch {
    throw new StrictJsonError('not UTF-8')
  }
  return parseStrictJson(text, options)
}

/** Parses `text` strictly (see above); throws StrictJsonError saying what was wrong. */
export function parseStrictJson (text: string, { maxDepth = 32 }: { maxDepth?: number } = {}): JsonValue {
  let at = 0

  const fail = (what: string): never => { throw new StrictJsonError(`${what} at offset ${at}`) }

  function skipWhitespace (): void {
    // Most calls find none (compact JSON): a character test is far cheaper than a regex run.
    const c = text.charCodeAt(at)
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return
    WHITESPACE.lastIndex = at
    WHITESPACE.test(text)
    at = WHITESPACE.lastIndex
  }

  function value (depth: number): JsonValue {
    skipWhitespace()
    const c = text[at]
    if (c === '{') return object(depth + 1)
    if (c === '[') return array(depth + 1)
    if (c === '"') return string()
    if (text.startsWith('true', at)) { at += 4; return true }
    if (text.startsWith('false', at)) { at += 5; return false }
    if (text.startsWith('null', at)) { at += 4; return null }
    return number()
  }

  function object (depth: number): JsonObject {
    if (depth > maxDepth) fail('nesting too deep')
    at++ // {
    const result = Object.create(null) as JsonObject
    skipWhitespace()
    if (text[at] === '}') { at++; return result }
    for (;;) {
      skipWhitespace()
      if (text[at] !== '"') fail('expected a key')
      const key = string()
      if (Object.hasOwn(result, key)) fail(`duplicate key ${JSON.stringify(key)}`)
      skipWhitespace()
      if (text[at] !== ':') fail('expected ":"')
      at++
      result[key] = value(depth)
      skipWhitespace()
      if (text[at] === ',') { at++; continue }
      if (text[at] === '}') { at++; return result }
      fail('expected "," or "}"')
    }
  }

  function array (depth: number): JsonValue[] {
    if (depth > maxDepth) fail('nesting too deep')
    at++ // [
    const result: JsonValue[] = []
    skipWhitespace()
    if (text[at] === ']') { at++; return result }
    for (;;) {
      result.push(value(depth))
      skipWhitespace()
      if (text[at] === ',') { at++; continue }
      if (text[at] === ']') { at++; return result }
      fail('expected "," or "]"')
    }
  }

  function string (): string {
    at++ // opening quote
    let result = ''
    for (;;) {
      PLAIN_CHARS.lastIndex = at
      PLAIN_CHARS.test(text)
      result += text.slice(at, PLAIN_CHARS.lastIndex)
      at = PLAIN_CHARS.lastIndex
      const c = text[at]
      if (c === '"') { at++; break }
      if (c !== '\\') fail(c === undefined ? 'unterminated string' : 'control character in a string')
      const escape = text[at + 1] ?? ''
      if (escape === 'u') {
        const hex = text.slice(at + 2, at + 6)
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape')
        result += String.fromCharCode(parseInt(hex, 16))
        at += 6
      } else {
        const decoded = ESCAPES[escape]
        if (decoded === undefined) fail('bad escape')
        result += decoded
        at += 2
      }
    }
    if (!result.isWellFormed()) fail('lone surrogate in a string')
    return result
  }

  function number (): number {
    NUMBER.lastIndex = at
    if (!NUMBER.test(text)) fail('unexpected character')
    const result = Number(text.slice(at, NUMBER.lastIndex))
    if (!Number.isFinite(result)) fail('number out of range')
    at = NUMBER.lastIndex
    return result
  }

  const result = value(0)
  skipWhitespace()
  if (at !== text.length) fail('unexpected data after the JSON value')
  return result
}
