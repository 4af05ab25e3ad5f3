import type { Test } from 'tap'
import type { TestApp } from './app.js'
import { bearer, tokenFor } from './tokens.js'

export type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

export interface ApiAnswer {
  status: number
  headers: Headers
  /** Parsed JSON, or undefined for an empty body. */
  body: Json
  text: string
}

/** `/v1/multipart-uploads/{uploadId}{suffix}` with the upload ID percent-encoded as one path segment. */
export function uploadPath (uploadId: string, suffix = ''): string {
  return `/v1/multipart-uploads/${encodeURIComponent(uploadId)}${suffix}`
}

/** `?key=…[&bucket=…]`, every value percent-encoded. */
export function keyQuery (key: string, bucket?: string): string {
  return '?' + new URLSearchParams(bucket === undefined ? { key } : { key, bucket }).toString().replaceAll('+', '%20')
}

/** Any method on the app, as `sub` (alice by default), JSON body when given. */
export async function call (app: TestApp, method: string, path: string, body?: unknown, sub = 'alice'): Promise<ApiAnswer> {
  const headers: Record<string, string> = bearer(tokenFor(sub))
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(app.url + path, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) })
  const text = await res.text()
  let parsed: Json = {}
  try { parsed = text === '' ? {} : JSON.parse(text) as Json } catch { parsed = { unparsable: text } }
  return { status: res.status, headers: res.headers, body: parsed, text }
}

/** Asserts a problem+json answer with exactly the RFC 9457 members, no stack, and returns its body. */
export function assertProblem (t: Test, answer: ApiAnswer, status: number, code: string, label = ''): Json {
  const where = label === '' ? '' : `${label}: `
  t.equal(answer.status, status, `${where}status ${status}`)
  t.match(answer.headers.get('content-type'), /^application\/problem\+json/, `${where}problem+json`)
  t.same(Object.keys(answer.body).sort(), ['code', 'detail', 'status', 'title', 'type'], `${where}exactly the problem members`)
  t.equal(answer.body.code, code, `${where}code ${code}`)
  t.notMatch(answer.text, /\n\s+at |node_modules|\.ts:\d+/, `${where}no stack trace`)
  if (status === 503) t.match(answer.headers.get('retry-after'), /^\d+$/, `${where}Retry-After`)
  return answer.body
}

/** The multipart API for one key, as alice: thin wrappers that return the raw answer. */
export function multipartApi (app: TestApp, key: string, bucket?: string) {
  const b = bucket === undefined ? {} : { bucket }
  return {
    create: (extra: Json = {}) => call(app, 'POST', '/v1/multipart-uploads', { key, contentType: 'application/octet-stream', ...b, ...extra }),
    partUrls: (uploadId: string, partNumbers: number[], extra: Json = {}) =>
      call(app, 'POST', uploadPath(uploadId, '/part-urls'), { key, partNumbers, ...b, ...extra }),
    listParts: (uploadId: string) => call(app, 'GET', uploadPath(uploadId, '/parts') + keyQuery(key, bucket)),
    complete: (uploadId: string, parts: Array<{ partNumber: number, etag: string }>) =>
      call(app, 'POST', uploadPath(uploadId, '/complete'), { key, parts, ...b }),
    abort: (uploadId: string) => call(app, 'DELETE', uploadPath(uploadId) + keyQuery(key, bucket))
  }
}
