/**
 * Example caller backend for r2-signer: a small media app whose browser page uploads files straight
 * to storage, streams videos from it and opens a task's PDF, while this backend only hands out URLs.
 *
 *   User → page → this backend (session cookie) → r2-signer (user's JWT) → presigned URL → page ↔ storage
 *
 * The backend never sees a byte of a file and holds no storage credential. See README.md beside this
 * file. `npm run dev` starts it on http://127.0.0.1:3000; run alone with
 * `SIGNER_URL=http://127.0.0.1:8080 JWT_SECRET=… tsx examples/media-app/server.ts`.
 */
import { randomBytes } from 'node:crypto'
import { realpathSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { createSignerClient, SignerError, type BatchItemResult, type Problem, type SignedUrl } from './signer-client.js'

const MiB = 1024 * 1024

export interface Task {
  taskId: string
  title: string
  summary?: string
  /** Object key of the task's description PDF. */
  pdfKey: string
}

export interface MediaAppOptions {
  /** r2-signer's base URL. */
  signerUrl: string
  /** HS256 secret r2-signer trusts; the backend mints the users' JWTs with it (the identity provider's job in real life). */
  jwtSecret: string
  jwtIssuer?: string
  jwtAudience?: string
  /** Files larger than this go through the multipart API. Default 16 MiB. */
  multipartThresholdBytes?: number
  /** Part size to ask r2-signer for (≥ 5 MiB); default: r2-signer's choice (8 MiB for most files). */
  partSizeBytes?: number
  /** Parts the page uploads at the same time. Default 3. */
  partConcurrency?: number
  /** Lifetime of upload and part URLs. Default 600 s. */
  uploadUrlTtlSeconds?: number
  /** Lifetime of a video URL; the page fetches a fresh one before it runs out. Default 300 s. */
  mediaUrlTtlSeconds?: number
  /** Lifetime of the URLs of an HLS stream's segments; the page renews them all before they run out. Default 300 s. */
  streamUrlTtlSeconds?: number
  /** Lifetime of a task's PDF link. Default 300 s. */
  taskPdfTtlSeconds?: number
  tasks?: Task[]
  /** Session lifetime. Default 12 h. */
  sessionTtlSeconds?: number
  logger?: boolean | object
}

interface FileInfo {
  key: string
  name: string
  size: number
  contentType: string
  uploadedAt: string
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in user (the JWT subject), set by the /api auth hook. */
    account: { user: string }
  }
}

const SESSION_COOKIE = 'media_session'
const USER_NAME = '^[a-z0-9][a-z0-9._-]{0,31}$'
const STATIC_FILES: Record<string, { file: string, type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/styles.css': { file: 'styles.css', type: 'text/css; charset=utf-8' }
}
/** hls.js, for the HLS view: the page has no build step, so its ES module is served from node_modules. */
const HLS_JS = createRequire(import.meta.url).resolve('hls.js/dist/hls.min.mjs')
/** Segments one playlist may have signed in one batch call (r2-signer's default BATCH_MAX_ITEMS). */
const MAX_STREAM_KEYS = 1000
// The page loads its own script and styles only; URLs from r2-signer point at another origin (storage).
// blob: media is hls.js's Media Source, fed with segments the page fetched from storage.
const CONTENT_SECURITY_POLICY = "default-src 'self'; connect-src 'self' http: https:; media-src http: https: blob:; " +
  "frame-src http: https:; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

export async function buildMediaApp (options: MediaAppOptions): Promise<FastifyInstance> {
  const threshold = options.multipartThresholdBytes ?? 16 * MiB
  const uploadTtl = options.uploadUrlTtlSeconds ?? 600
  const mediaTtl = options.mediaUrlTtlSeconds ?? 300
  const pdfTtl = options.taskPdfTtlSeconds ?? 300
  const streamTtl = options.streamUrlTtlSeconds ?? 300
  const sessionTtlMs = (options.sessionTtlSeconds ?? 12 * 3600) * 1000
  const tasks = new Map((options.tasks ?? []).map((task) => [task.taskId, task]))
  const signer = createSignerClient({
    baseUrl: options.signerUrl,
    secret: options.jwtSecret,
    issuer: options.jwtIssuer,
    audience: options.jwtAudience
  })

  // In memory, for the example: a real backend keeps sessions and its file records in its database.
  const sessions = new Map<string, { user: string, expires: number }>()
  const files = new Map<string, Map<string, FileInfo>>()

  const app = Fastify({
    logger: options.logger ?? false,
    // R2's multipart upload IDs run to hundreds of characters.
    routerOptions: { maxParamLength: 1024 }
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.decorateRequest('account', null as unknown as { user: string })

  app.addHook('onSend', async (request, reply) => {
    reply.header('x-content-type-options', 'nosniff')
    reply.header('referrer-policy', 'no-referrer')
    // API answers carry signed URLs: never cached.
    if (request.url.startsWith('/api/') && !reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
  })

  app.setErrorHandler((error: Error & { statusCode?: number, validation?: unknown }, request, reply) => {
    if (error instanceof SignerError) {
      // The backend minted the token itself, so r2-signer refusing it is our misconfiguration, not the user's.
      const status = error.status === 401 ? 502 : error.status
      request.log.warn({ status: error.status, code: error.problem.code }, 'r2-signer refused')
      return sendProblem(reply, { ...error.problem, status })
    }
    if (error.validation !== undefined || (error.statusCode !== undefined && error.statusCode < 500)) {
      return sendProblem(reply, { title: 'Bad request', status: error.statusCode ?? 400, detail: error.message })
    }
    request.log.error(error)
    return sendProblem(reply, { title: 'Internal error', status: 500 })
  })

  // --- the page ----------------------------------------------------------------------------------

  for (const [path, { file, type }] of Object.entries(STATIC_FILES)) {
    app.get(path, async (_request, reply) => {
      // Read on every request, so edits to public/ show on reload.
      const body = await readFile(new URL(`./public/${file}`, import.meta.url))
      return reply.type(type).header('cache-control', 'no-cache').header('content-security-policy', CONTENT_SECURITY_POLICY).send(body)
    })
  }

  app.get('/vendor/hls.mjs', async (_request, reply) => {
    return reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').send(await readFile(HLS_JS))
  })

  // --- sessions (a stand-in for your real login) ---------------------------------------------------

  app.post('/api/login', {
    schema: { body: Type.Object({ user: Type.String({ pattern: USER_NAME }) }, { additionalProperties: false }) }
  }, async (request, reply) => {
    const { user } = request.body
    const id = randomBytes(32).toString('base64url')
    sessions.set(id, { user, expires: Date.now() + sessionTtlMs })
    reply.header('set-cookie', `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${Math.floor(sessionTtlMs / 1000)}`)
    return { user }
  })

  app.post('/api/logout', async (request, reply) => {
    const id = sessionId(request)
    if (id !== undefined) sessions.delete(id)
    reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`)
    return reply.code(204).send()
  })

  // Every other /api route needs a session.
  app.addHook('preHandler', async (request, reply) => {
    const path = request.url.split('?')[0] ?? ''
    if (!path.startsWith('/api/') || path === '/api/login' || path === '/api/logout' || path === '/api/me') return
    const id = sessionId(request)
    const session = id === undefined ? undefined : sessions.get(id)
    if (session === undefined || session.expires < Date.now()) {
      if (id !== undefined) sessions.delete(id)
      return sendProblem(reply, { title: 'Not signed in', status: 401, detail: 'Sign in first.' })
    }
    request.account = { user: session.user }
  })

  /** Who is signed in: `{user: null}` (not a 401) before sign-in, so a first visit logs no error. */
  app.get('/api/me', async (request) => {
    const session = sessions.get(sessionId(request) ?? '')
    return { user: session !== undefined && session.expires >= Date.now() ? session.user : null }
  })

  // --- uploads -------------------------------------------------------------------------------------

  app.post('/api/uploads', {
    schema: {
      body: Type.Object({
        name: Type.String({ minLength: 1, maxLength: 255 }),
        contentType: Type.String({ maxLength: 255 }),
        size: Type.Integer({ minimum: 0 })
      }, { additionalProperties: false })
    }
  }, async (request) => {
    const { user } = request.account
    const { name, size } = request.body
    // Keys are namespaced per user: the permission policy lets users write users/<sub>/… only.
    const key = `users/${user}/${safeFileName(name)}`
    const contentType = request.body.contentType || 'application/octet-stream'
    if (size <= threshold) {
      const signed = await signer.uploadUrl(user, { key, contentType, contentLength: size, expiresIn: uploadTtl })
      return { mode: 'single', key, url: signed.url, headers: signed.headers, expiresAt: signed.expiresAt }
    }
    const created = await signer.createMultipart(user, { key, contentType, size, ...(options.partSizeBytes !== undefined && { partSize: options.partSizeBytes }) })
    return {
      mode: 'multipart',
      key,
      uploadId: created.uploadId,
      partSize: created.partSize,
      partCount: created.partCount,
      // Opaque; the page sends it back with every part-urls and complete call (r2-signer needs it, we keep no state).
      uploadToken: created.uploadToken,
      concurrency: options.partConcurrency ?? 3
    }
  })

  const uploadParams = Type.Object({ uploadId: Type.String({ minLength: 1, maxLength: 1024 }) })

  app.post('/api/uploads/:uploadId/part-urls', {
    schema: {
      params: uploadParams,
      body: Type.Object({
        key: Type.String({ minLength: 1 }),
        uploadToken: Type.String({ minLength: 1, maxLength: 8192 }),
        partNumbers: Type.Array(Type.Integer({ minimum: 1, maximum: 10_000 }), { minItems: 1, maxItems: 100 })
      }, { additionalProperties: false })
    }
  }, async (request) => {
    const { key, uploadToken, partNumbers } = request.body
    const signed = await signer.partUrls(request.account.user, request.params.uploadId, { key, uploadToken, partNumbers, expiresIn: uploadTtl })
    return { headers: signed.headers, parts: signed.parts }
  })

  app.post('/api/uploads/:uploadId/complete', {
    schema: {
      params: uploadParams,
      body: Type.Object({
        key: Type.String({ minLength: 1 }),
        uploadToken: Type.String({ minLength: 1, maxLength: 8192 }),
        parts: Type.Array(Type.Object({ partNumber: Type.Integer(), etag: Type.String() }), { minItems: 1, maxItems: 10_000 })
      }, { additionalProperties: false })
    },
    bodyLimit: 4 * MiB
  }, async (request) => {
    const { user } = request.account
    await signer.completeMultipart(user, request.params.uploadId, request.body)
    return { file: await registerFile(user, request.body.key) }
  })

  app.delete('/api/uploads/:uploadId', {
    schema: { params: uploadParams, querystring: Type.Object({ key: Type.String({ minLength: 1 }) }) }
  }, async (request, reply) => {
    await signer.abortMultipart(request.account.user, request.params.uploadId, request.query.key)
    return reply.code(204).send()
  })

  /** The page PUT a file with a single URL and storage answered 200: record it (after checking). */
  app.post('/api/files', {
    schema: { body: Type.Object({ key: Type.String({ minLength: 1 }) }, { additionalProperties: false }) }
  }, async (request) => ({ file: await registerFile(request.account.user, request.body.key) }))

  app.get('/api/files', async (request) => ({
    files: [...(files.get(request.account.user)?.values() ?? [])].sort((a, b) => b.uploadedAt.localeCompare(a.uploadedAt))
  }))

  /**
   * Trust but verify: the page says the upload finished; storage says how big it is and what type.
   * A HEAD URL moves no file bytes through the backend.
   */
  async function registerFile (user: string, key: string): Promise<FileInfo> {
    const head = await signer.downloadUrl(user, { key, method: 'HEAD', expiresIn: 60 })
    const response = await fetch(head.url, { method: 'HEAD', signal: AbortSignal.timeout(10_000) })
    if (response.status !== 200) {
      throw new SignerError(409, { title: 'Not in storage', status: 409, detail: `Storage does not hold ${key} (HEAD answered ${response.status}).` })
    }
    const prefix = `users/${user}/`
    const file: FileInfo = {
      key,
      name: key.startsWith(prefix) ? key.slice(prefix.length) : key,
      size: Number(response.headers.get('content-length') ?? 0),
      contentType: response.headers.get('content-type') ?? 'application/octet-stream',
      uploadedAt: new Date().toISOString()
    }
    let mine = files.get(user)
    if (mine === undefined) files.set(user, mine = new Map())
    mine.set(key, file)
    return file
  }

  // --- media -----------------------------------------------------------------------------------------

  /** A GET URL for `<video src>`; r2-signer (via the permission service) decides whether this user may read the key. */
  app.get('/api/media-url', {
    schema: { querystring: Type.Object({ key: Type.String({ minLength: 1, maxLength: 1024 }) }) }
  }, async (request) => {
    const signed = await signer.downloadUrl(request.account.user, { key: request.query.key, expiresIn: mediaTtl })
    return { key: signed.key, url: signed.url, expiresIn: signed.expiresIn, expiresAt: signed.expiresAt }
  })

  /**
   * What storage holds at a key, asked with a HEAD URL (no bytes): the page asks when its player
   * fails, to tell "not found" from an expired link.
   */
  app.get('/api/object-status', {
    schema: { querystring: Type.Object({ key: Type.String({ minLength: 1, maxLength: 1024 }) }) }
  }, async (request) => {
    const head = await signer.downloadUrl(request.account.user, { key: request.query.key, method: 'HEAD', expiresIn: 60 })
    let response: Response
    try {
      response = await fetch(head.url, { method: 'HEAD', signal: AbortSignal.timeout(10_000) })
    } catch {
      throw new SignerError(502, { title: 'Storage unreachable', status: 502, detail: 'Storage did not answer a HEAD request; try again shortly.' })
    }
    return {
      key: head.key,
      status: response.status,
      exists: response.status === 200,
      ...(response.status === 200 && { size: Number(response.headers.get('content-length') ?? 0), contentType: response.headers.get('content-type') ?? undefined })
    }
  })

  /**
   * GET URLs for the objects an HLS playlist names (segments, init segments, variant playlists), in
   * ONE r2-signer batch call: the page asks once per playlist load and again before they expire.
   * Each key is signed or refused on its own (e.g. 403 for another user's segments), in request order.
   */
  app.post('/api/hls-urls', {
    schema: {
      body: Type.Object({
        keys: Type.Array(Type.String({ minLength: 1, maxLength: 1024 }), { minItems: 1, maxItems: MAX_STREAM_KEYS, uniqueItems: true })
      }, { additionalProperties: false })
    }
  }, async (request) => {
    const { keys } = request.body
    const answer = await signer.batch(request.account.user, { items: keys.map((key) => ({ op: 'download', key })), expiresIn: streamTtl })
    const items: unknown = answer?.items
    if (!Array.isArray(items) || items.length !== keys.length) {
      throw new SignerError(502, { title: 'Unexpected answer from r2-signer', status: 502, detail: `Asked for ${keys.length} URLs, got ${Array.isArray(items) ? items.length : 'no list'}.` })
    }
    return { items: (items as unknown[]).map((item, i) => streamItem(keys[i] as string, item)) }
  })

  // --- tasks -----------------------------------------------------------------------------------------

  app.get('/api/v1/tasks', async () => ({
    tasks: [...tasks.values()].map(({ taskId, title, summary }) => ({ taskId, title, summary }))
  }))

  app.get('/api/v1/tasks/:taskId', {
    schema: { params: Type.Object({ taskId: Type.String({ minLength: 1, maxLength: 128 }) }) }
  }, async (request, reply) => {
    const task = tasks.get(request.params.taskId)
    if (task === undefined) return sendProblem(reply, { title: 'No such task', status: 404, detail: `There is no task ${request.params.taskId}.` })
    const signed = await signer.downloadUrl(request.account.user, {
      key: task.pdfKey,
      expiresIn: pdfTtl,
      // Shown in the browser's PDF viewer rather than downloaded, whatever type it was stored with.
      disposition: 'inline',
      filename: `${task.taskId}.pdf`,
      contentType: 'application/pdf'
    })
    return { taskId: task.taskId, title: task.title, summary: task.summary, descriptionPdfUrl: signed.url, expiresIn: signed.expiresIn, expiresAt: signed.expiresAt }
  })

  app.setNotFoundHandler((_request, reply) => sendProblem(reply, { title: 'Not found', status: 404 }))

  return app
}

/** One item of r2-signer's batch answer, as the page gets it: the URL, or the reason it was refused. */
function streamItem (key: string, item: unknown) {
  const answer = (typeof item === 'object' && item !== null ? item : {}) as Partial<BatchItemResult & SignedUrl & { problem: Problem }>
  if (answer.status === 200 && typeof answer.url === 'string') {
    return { status: 200, key, url: answer.url, expiresIn: answer.expiresIn, expiresAt: answer.expiresAt }
  }
  const status = typeof answer.status === 'number' && answer.status >= 400 ? answer.status : 502
  return { status, key, problem: answer.problem ?? { title: `r2-signer answered ${answer.status ?? 'nothing'} for this key`, status } }
}

function sendProblem (reply: FastifyReply, problem: Problem): FastifyReply {
  return reply.code(problem.status).type('application/problem+json').header('cache-control', 'no-store').send(problem)
}

function sessionId (request: FastifyRequest): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [name, value] = part.trim().split('=')
    if (name === SESSION_COOKIE && value) return value
  }
  return undefined
}

/** One path segment: no "/", no control characters, not "." or "..". Everything else r2-signer accepts. */
export function safeFileName (name: string): string {
  const cleaned = name.replace(/[/\\\p{Cc}]+/gu, '_').trim().slice(0, 200)
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? 'file' : cleaned
}

// --- direct run -----------------------------------------------------------------------------------------

function isDirectRun (): boolean {
  const entry = process.argv[1]
  if (!entry) return false
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href
  } catch {
    return false
  }
}

if (isDirectRun()) {
  const { SIGNER_URL, JWT_SECRET } = process.env
  if (!SIGNER_URL || !JWT_SECRET) {
    process.stderr.write('media-app: set SIGNER_URL (r2-signer\'s base URL) and JWT_SECRET (the HS256 secret it trusts)\n')
    process.exit(1)
  }
  const app = await buildMediaApp({
    signerUrl: SIGNER_URL,
    jwtSecret: JWT_SECRET,
    jwtIssuer: process.env.JWT_ISSUER || undefined,
    jwtAudience: process.env.JWT_AUDIENCE || undefined,
    ...(process.env.MULTIPART_THRESHOLD_BYTES && { multipartThresholdBytes: Number(process.env.MULTIPART_THRESHOLD_BYTES) }),
    tasks: process.env.TASKS_JSON ? JSON.parse(process.env.TASKS_JSON) as Task[] : [],
    logger: true
  })
  await app.listen({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 3000) })
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close())
}
