/**
 * THE helper for tests of the app: build it (`build`, `buildWithStorage`, `configure`), call it
 * (`call`, `multipartApi`, `signUrl`, `app.post`) and assert its problems (`assertProblem`,
 * `expectProblem`). Real HTTP on 127.0.0.1 throughout (cf. fastify/demo's test/helper.ts).
 */
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { ConfigError, type RawEnv } from '../../src/config/config.js'
import { startPermissionStub, type PermissionStub, type StubHandler } from './permission-stub.js'
import { createTestBucket, testStorage } from './storage.js'
import { headerProxy, type HeaderProxy } from './header-proxy.js'
import { bearer, TEST_JWT_SECRET, tokenFor } from './tokens.js'

/** Storage settings for apps that never reach storage (signing makes no storage call). */
export const OFFLINE_STORAGE_ENV = {
  S3_ENDPOINT: 'http://127.0.0.1:9',
  S3_ACCESS_KEY_ID: 'test-access-key',
  S3_SECRET_ACCESS_KEY: 'test-secret-key-that-must-never-be-logged',
  S3_BUCKET: 'media'
}

export interface TestApp {
  app: FastifyInstance
  /** Base URL of the app listening on 127.0.0.1 (tests use real HTTP). */
  url: string
  permissions: PermissionStub
  /** Every log line the app wrote, parsed. */
  logs: Array<Record<string, unknown>>
  /** The raw log text, for "never appears" assertions. */
  logText: () => string
  post: (path: string, body: unknown, headers?: Record<string, string>) => Promise<Response>
}

/**
 * Builds the app with a real permission-service stub, listening on a real port,
 * closed when the test ends.
 * The storage self-test is off unless `storageSelfTest` is true: these apps' storage is absent
 * (OFFLINE_STORAGE_ENV) or a script (fake S3) that cannot answer it; apps on the real test
 * storage (`buildWithStorage`) turn it on, behind the header-enforcing proxy.
 */
export interface BuildOptions {
  env?: RawEnv
  permissions?: StubHandler
  /** A permission stub several apps share (it stays open when this app closes); `permissions` is then ignored. */
  permissionStub?: PermissionStub
  beforeListen?: (app: FastifyInstance) => void
  storageSelfTest?: boolean
  /** Rate-limit window in ms (a minute by default). */
  rateLimitWindowMs?: number
  /** PERMISSIONS_BATCH_URL: the stub's /batch. */
  batchPermissions?: boolean
}

export async function build (t: Test, options: BuildOptions = {}): Promise<TestApp> {
  const ownStub = options.permissionStub === undefined
  const permissions = options.permissionStub ?? await startPermissionStub(options.permissions)
  const lines: string[] = []
  const logStream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
      done()
    }
  })
  const app = await buildApp({
    env: {
      LOG_LEVEL: 'info',
      ...OFFLINE_STORAGE_ENV,
      JWT_SECRET: TEST_JWT_SECRET,
      PERMISSIONS_URL: permissions.url,
      PERMISSIONS_TIMEOUT_MS: '500',
      ...(options.batchPermissions === true && { PERMISSIONS_BATCH_URL: permissions.batchUrl }),
      // Tests send thousands of requests (and bad tokens) from 127.0.0.1 within a minute; the limits'
      // own tests set theirs (test/auth/unauthenticated-limit.test.ts, test/shared-state/).
      RATE_LIMIT_URLS_PER_MINUTE: '1000000',
      RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: '1000000',
      ...options.env
    },
    logStream,
    storageSelfTest: options.storageSelfTest ?? false,
    rateLimitWindowMs: options.rateLimitWindowMs
  })
  t.teardown(async () => {
    await app.close()
    if (ownStub) await permissions.close()
  })
  options.beforeListen?.(app)
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    app,
    url: address,
    permissions,
    get logs () { return lines.map((line) => JSON.parse(line) as Record<string, unknown>) },
    logText: () => lines.join('\n'),
    post: (path, body, headers = {}) => fetch(address + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body)
    })
  }
}

/** The app wired to the real test S3 server, with a fresh bucket (and a second allowed one). */
/** POSTs as alice (a valid token); `body` as a string is sent as raw JSON text. */
export function postAsAlice (app: TestApp, route: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return app.post(route, body, { ...bearer(tokenFor('alice')), ...headers })
}

/** Asserts a 200 JSON answer with Cache-Control: no-store, and returns its body. */
export async function expectOk (t: Test, res: Response): Promise<Json> {
  t.equal(res.status, 200, 'status 200')
  t.match(res.headers.get('content-type'), /^application\/json/, 'application/json')
  t.equal(res.headers.get('cache-control'), 'no-store', 'no-store')
  return await res.json() as Json
}

export interface StorageAppOptions {
  permissions?: StubHandler
  /** PERMISSIONS_BATCH_URL: the stub's /batch. */
  batchPermissions?: boolean
  env?: Record<string, string>
  /**
   * true: the app talks to Ceph RGW directly, which honours unsigned x-amz-* headers (the self-test
   * finds it unsafe). Default: through the header-enforcing proxy, which makes it a safe store.
   */
  rawStorage?: boolean
}

/**
 * The app wired to the real test S3 server, with a fresh bucket (and a second allowed one), the
 * storage self-test on, and by default the header-enforcing proxy in front of Ceph (`storageEndpoint`).
 */
export async function buildWithStorage (t: Test, options: StorageAppOptions = {}): Promise<TestApp & { bucket: string, otherBucket: string, storageEndpoint: string, proxy?: HeaderProxy }> {
  const storage = testStorage()
  const [bucket, otherBucket] = await Promise.all([createTestBucket('signer'), createTestBucket('signer-other')])
  const proxy = options.rawStorage === true ? undefined : await headerProxy(t, storage.endpoint)
  const storageEndpoint = proxy?.endpoint ?? storage.endpoint
  const app = await build(t, {
    permissions: options.permissions,
    batchPermissions: options.batchPermissions,
    storageSelfTest: true,
    env: {
      S3_ENDPOINT: storageEndpoint,
      S3_REGION: storage.region,
      S3_ACCESS_KEY_ID: storage.accessKeyId,
      S3_SECRET_ACCESS_KEY: storage.secretAccessKey,
      S3_BUCKET: bucket,
      S3_ALLOWED_BUCKETS: otherBucket,
      ...options.env
    }
  })
  // Object.assign keeps the `logs` getter live (a spread would freeze it).
  return Object.assign(app, { bucket, otherBucket, storageEndpoint, ...(proxy !== undefined && { proxy }) })
}

/** POSTs to a signing route as `sub` and returns the parsed 200 answer (fails the test otherwise). */
export async function signUrl (t: Test, app: TestApp, route: 'download-urls' | 'upload-urls', body: object, token: string): Promise<{ url: string, method: string, headers: Record<string, string>, expiresAt: string, key: string, bucket: string }> {
  const response = await app.post(`/v1/${route}`, body, { authorization: `Bearer ${token}` })
  const json = await response.json() as { url: string, method: string, headers: Record<string, string>, expiresAt: string, key: string, bucket: string }
  t.equal(response.status, 200, `${route} answers 200 for ${JSON.stringify(body).slice(0, 100)}`)
  return json
}

export type ConfigureOutcome = { app: FastifyInstance, error?: undefined } | { app?: undefined, error: unknown }

/** Builds and readies the app from `env` (closing it when the test ends), or returns the error it failed with. */
export async function configure (t: Test, env: RawEnv): Promise<ConfigureOutcome> {
  let app: FastifyInstance
  try {
    app = await buildApp({ env })
    await app.ready()
  } catch (error) {
    return { error }
  }
  t.teardown(() => app.close())
  return { app }
}

/** The app of a configuration that must work (fails the test with the configuration error otherwise). */
export async function configured (t: Test, env: RawEnv): Promise<FastifyInstance> {
  const outcome = await configure(t, env)
  if (outcome.error !== undefined) t.fail(`unexpected configuration error: ${(outcome.error as Error).message}`)
  return outcome.app as FastifyInstance
}

/**
 * Asserts one ConfigError naming exactly `variables` (in any order), each in the message, and
 * echoing none of the environment's secrets, the test JWT secret, or `secrets`.
 */
export async function rejectsConfig (t: Test, env: RawEnv, variables: string[], secrets: string[] = []): Promise<ConfigError | undefined> {
  const { error } = await configure(t, env)
  t.ok(error instanceof ConfigError, `a ConfigError (got ${String(error)})`)
  if (!(error instanceof ConfigError)) return undefined
  t.same([...error.variables].sort(), [...variables].sort(), `names ${variables.join(', ')}`)
  for (const name of variables) t.match(error.message, name, `message names ${name}`)
  for (const secret of [env.S3_SECRET_ACCESS_KEY, env.JWT_SECRET, TEST_JWT_SECRET, ...secrets]) {
    if (secret !== undefined && secret !== '') t.notOk(error.message.includes(secret), 'no secret is echoed')
  }
  return error
}

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
  return await answerOf(await fetch(app.url + path, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) }))
}

/** A fetch Response read into an ApiAnswer. */
export async function answerOf (res: Response): Promise<ApiAnswer> {
  const text = await res.text()
  let parsed: Json = {}
  try { parsed = text === '' ? {} : JSON.parse(text) as Json } catch { parsed = { unparsable: text } }
  return { status: res.status, headers: res.headers, body: parsed, text }
}

const PROBLEM_MEMBERS = ['code', 'detail', 'status', 'title', 'type']

/**
 * Asserts a problem+json answer: the status, the media type, no-store, exactly the RFC 9457
 * members (with the status repeated and string type/title/detail), the code (a string, or a
 * pattern), no signed URL, no stack trace, and Retry-After on a 503. Returns its body.
 */
export function assertProblem (t: Test, answer: ApiAnswer, status: number, code?: string | RegExp, label = ''): Json {
  const where = label === '' ? '' : `${label}: `
  t.equal(answer.status, status, `${where}status ${status}`)
  t.match(answer.headers.get('content-type'), /^application\/problem\+json/, `${where}problem+json`)
  t.equal(answer.headers.get('cache-control'), 'no-store', `${where}no-store`)
  t.same(Object.keys(answer.body).sort(), PROBLEM_MEMBERS, `${where}exactly the problem members`)
  t.match(answer.body, { status, type: String, title: String, detail: String }, `${where}status in the body, type, title and detail`)
  if (typeof code === 'string') t.equal(answer.body.code, code, `${where}code ${code}`)
  else if (code !== undefined) t.match(answer.body.code, code, `${where}code ${String(code)}`)
  t.notOk('url' in answer.body, `${where}no url in a failure`)
  t.notMatch(answer.text, /\n\s+at |node_modules|\.ts:\d+/, `${where}no stack trace`)
  if (status === 503) t.match(answer.headers.get('retry-after'), /^\d+$/, `${where}Retry-After`)
  return answer.body
}

/** assertProblem for a fetch Response (reads its body). */
export async function expectProblem (t: Test, res: Response, status: number, code?: string | RegExp, label = ''): Promise<Json> {
  return assertProblem(t, await answerOf(res), status, code, label)
}

/**
 * The multipart API for one key, as alice: thin wrappers that return the raw answer. The
 * uploadToken a create answers is remembered and sent with part-urls and complete for that
 * upload, unless `extra` names one (`{ uploadToken: undefined }` sends none); `useToken` sets one.
 * create sends `size` (default 24 MiB: three 8 MiB parts) unless `extra` overrides it.
 */
export function multipartApi (app: TestApp, key: string, bucket?: string) {
  const b = bucket === undefined ? {} : { bucket }
  const tokens = new Map<string, string>()
  const withToken = (uploadId: string, extra: Json) => 'uploadToken' in extra ? extra : { uploadToken: tokens.get(uploadId), ...extra }
  return {
    create: async (extra: Json = {}) => {
      const answer = await call(app, 'POST', '/v1/multipart-uploads', { key, contentType: 'application/octet-stream', size: 24 * 1024 * 1024, ...b, ...extra })
      if (answer.status === 201) tokens.set(answer.body.uploadId as string, answer.body.uploadToken as string)
      return answer
    },
    useToken: (uploadId: string, uploadToken: string) => { tokens.set(uploadId, uploadToken) },
    tokenOf: (uploadId: string) => tokens.get(uploadId),
    partUrls: (uploadId: string, partNumbers: number[], extra: Json = {}) =>
      call(app, 'POST', uploadPath(uploadId, '/part-urls'), { key, partNumbers, ...b, ...withToken(uploadId, extra) }),
    listParts: (uploadId: string) => call(app, 'GET', uploadPath(uploadId, '/parts') + keyQuery(key, bucket)),
    complete: (uploadId: string, parts: Array<{ partNumber: number, etag: string }>, extra: Json = {}) =>
      call(app, 'POST', uploadPath(uploadId, '/complete'), { key, parts, ...b, ...withToken(uploadId, extra) }),
    abort: (uploadId: string) => call(app, 'DELETE', uploadPath(uploadId) + keyQuery(key, bucket))
  }
}
