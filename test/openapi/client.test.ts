/**
 * The committed OpenAPI document works with a generated client: openapi-typescript turns
 * openapi/openapi.json into types, test/openapi/client/client.ts (openapi-fetch) must
 * type-check against them, and then drives the real service over HTTP: a download URL,
 * an upload URL and every error class, each answer checked against the document's schema.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import ts from 'typescript'
import openapiTS, { astToString } from 'openapi-typescript'
import Schema from 'typebox/schema'
import { build } from '../helpers/app.js'
import { json } from '../helpers/permission-stub.js'
import { tokenFor } from '../helpers/tokens.js'

const root = new URL('../../', import.meta.url)
const clientDir = new URL('client/', import.meta.url)
const generatedFile = new URL('generated/r2-signer.d.ts', clientDir)
const clientFile = new URL('client.ts', clientDir)

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const document = JSON.parse(await readFile(new URL('openapi/openapi.json', root), 'utf8')) as Json
const schemas = document.components.schemas as Record<string, Json>

// Generated from the committed document (what a caller generates from), not from the app, with
// the options docs/api.md recommends: defaultNonNullable would make request fields that have a
// default (DownloadUrlRequest.method) required, since the request bodies are named components.
const types = astToString(await openapiTS(new URL('openapi/openapi.json', root), { defaultNonNullable: false }))
await mkdir(new URL('generated/', clientDir), { recursive: true })
// Written under a unique name, then renamed: concurrent runs never see a half-written file.
const partial = new URL(`generated/r2-signer.d.ts.${process.pid}`, clientDir)
await writeFile(partial, types)
await rename(partial, generatedFile)

t.test('the generated types name the components', async (t) => {
  for (const name of ['DownloadUrlRequest', 'DownloadUrlResponse', 'UploadUrlRequest', 'UploadUrlResponse', 'Problem', 'HealthStatus', 'BatchRequest', 'BatchResponse', 'BatchDownloadItem', 'BatchUploadItem']) {
    t.match(types, new RegExp(`\\n\\s+${name}: \\{`), `components.schemas.${name}`)
  }
  for (const operationId of ['createDownloadUrl', 'createUploadUrl', 'getLiveness', 'createBatch']) {
    t.match(types, new RegExp(`\\n\\s+${operationId}: \\{`), `operations.${operationId}`)
  }
})

t.test('the client code type-checks against the generated types', async (t) => {
  const configFile = fileURLToPath(new URL('tsconfig.json', root))
  const { config } = ts.readConfigFile(configFile, (path) => ts.sys.readFile(path))
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, fileURLToPath(root))
  const program = ts.createProgram([fileURLToPath(clientFile)], { ...options, noEmit: true })
  const diagnostics = ts.getPreEmitDiagnostics(program)
  const text = ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (name) => name,
    getCurrentDirectory: () => fileURLToPath(root),
    getNewLine: () => '\n'
  })
  t.equal(diagnostics.length, 0, text || 'no type errors')
})

/** test/openapi/client/client.ts as this file sees it (its real types need the generated file). */
interface Outcome { status: number, contentType: string | null, headers: Headers, data?: Json, error?: Json }
interface ClientModule {
  r2Signer: (baseUrl: string, token?: string) => unknown
  downloadUrl: (client: unknown, body: Json) => Promise<Outcome>
  uploadUrl: (client: unknown, body: Json) => Promise<Outcome>
  uploadUrlAsText: (client: unknown, body: Json) => Promise<Outcome>
  liveness: (client: unknown) => Promise<Outcome>
  batch: (client: unknown, body: Json) => Promise<Outcome>
}
// Imported by URL so that `npm run typecheck` does not follow it (it is checked above, against
// the generated types). Types are erased at run time: running it needs no generated code.
const client = await import(new URL('client.ts', clientDir).href) as ClientModule

/** A component with its `$ref`s to other components replaced by them (the checker reads one schema). */
function resolved (name: string): Parameters<typeof Schema.Check>[0] {
  const inline = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(inline)
    if (value === null || typeof value !== 'object') return value
    const ref = (value as Json).$ref
    if (typeof ref === 'string' && ref.startsWith('#/components/schemas/')) return inline(schemas[ref.slice('#/components/schemas/'.length)])
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, inline(item)]))
  }
  return inline(schemas[name]) as Parameters<typeof Schema.Check>[0]
}

/** Checks an answer against the document: status, media type and body schema. */
function conforms (t: Test, outcome: { status: number, contentType: string | null, data?: unknown, error?: unknown }, status: number, schema: string) {
  t.equal(outcome.status, status, `status ${status}`)
  const body = status < 400 ? outcome.data : outcome.error
  const mediaType = status < 400 ? 'application/json' : 'application/problem+json'
  t.match(outcome.contentType, new RegExp(`^${mediaType.replace('+', '\\+')}`), mediaType)
  t.ok(Schema.Check(resolved(schema), body), `the body is a ${schema}`)
}

t.test('driving r2-signer through the generated client', async (t) => {
  const app = await build(t)
  const alice = client.r2Signer(app.url, tokenFor('alice'))

  t.test('a download URL', async (t) => {
    const outcome = await client.downloadUrl(alice, { key: 'users/alice/videos/intro.mp4', filename: 'intro.mp4', expiresIn: 120 })
    conforms(t, outcome, 200, 'DownloadUrlResponse')
    t.match(outcome.data, { method: 'GET', bucket: 'media', key: 'users/alice/videos/intro.mp4', expiresIn: 120, headers: {} })
    t.match(outcome.data?.url, /X-Amz-Signature=/)
  })

  t.test('an upload URL', async (t) => {
    const outcome = await client.uploadUrl(alice, { key: 'users/alice/notes.txt', contentType: 'text/plain', contentLength: 8 })
    conforms(t, outcome, 200, 'UploadUrlResponse')
    t.same(outcome.data?.headers, { 'content-type': 'text/plain', 'content-length': '8' })
  })

  t.test('a batch: signed and refused items, each checked against its component', async (t) => {
    app.permissions.respond((check, res) => json(res, 200, { allowed: !(check.body as { key: string }).key.includes('bob') }))
    t.teardown(() => app.permissions.respond((_check, res) => json(res, 200, { allowed: true })))
    const outcome = await client.batch(alice, {
      expiresIn: 90,
      items: [
        { op: 'download', key: 'users/alice/a.jpg' },
        { op: 'upload', key: 'users/alice/b.txt', contentType: 'text/plain', contentLength: 3 },
        { op: 'download', key: 'users/bob/c.jpg' },
        { op: 'download', key: 'users/../d.jpg' }
      ]
    })
    conforms(t, outcome, 200, 'BatchResponse')
    const items = outcome.data?.items as Json[]
    t.same(items.map((item) => item.status), [200, 200, 403, 400])
    t.ok(Schema.Check(resolved('BatchSignedItem'), items[0]), 'a BatchSignedItem')
    t.ok(Schema.Check(resolved('BatchSignedItem'), items[1]), 'a BatchSignedItem')
    t.ok(Schema.Check(resolved('BatchRefusedItem'), items[2]), 'a BatchRefusedItem')
    t.equal(items[2]?.problem.code, 'PERMISSION_DENIED')
    t.equal(items[3]?.problem.code, 'INVALID_KEY')
    const empty = await client.batch(alice, { items: [] })
    conforms(t, empty, 400, 'Problem')
  })

  t.test('liveness', async (t) => {
    const outcome = await client.liveness(client.r2Signer(app.url))
    conforms(t, outcome, 200, 'HealthStatus')
  })

  t.test('400 invalid key', async (t) => {
    const outcome = await client.downloadUrl(alice, { key: 'users/../bob/secret.txt' })
    conforms(t, outcome, 400, 'Problem')
    t.equal(outcome.error?.code, 'INVALID_KEY')
  })

  t.test('400 invalid expiresIn', async (t) => {
    const outcome = await client.uploadUrl(alice, { key: 'users/alice/a.txt', contentType: 'text/plain', contentLength: 1, expiresIn: 604800 })
    conforms(t, outcome, 400, 'Problem')
    t.equal(outcome.error?.code, 'INVALID_EXPIRES_IN')
  })

  t.test('401 without a token', async (t) => {
    const outcome = await client.downloadUrl(client.r2Signer(app.url), { key: 'users/alice/a.txt' })
    conforms(t, outcome, 401, 'Problem')
    t.equal(outcome.error?.code, 'UNAUTHORIZED')
    t.match(outcome.headers.get('www-authenticate'), /^Bearer realm="r2-signer"/)
  })

  t.test('403 when the permission service says no', async (t) => {
    app.permissions.respond((_check, res) => json(res, 200, { allowed: false }))
    t.teardown(() => app.permissions.respond((_check, res) => json(res, 200, { allowed: true })))
    const outcome = await client.downloadUrl(alice, { key: 'users/bob/secret.txt' })
    conforms(t, outcome, 403, 'Problem')
    t.equal(outcome.error?.code, 'PERMISSION_DENIED')
  })

  t.test('403 for a bucket r2-signer does not serve', async (t) => {
    const outcome = await client.uploadUrl(alice, { key: 'users/alice/a.txt', bucket: 'elsewhere', contentType: 'text/plain', contentLength: 1 })
    conforms(t, outcome, 403, 'Problem')
    t.equal(outcome.error?.code, 'BUCKET_NOT_ALLOWED')
  })

  t.test('413 for a body over 64 KiB', async (t) => {
    const outcome = await client.downloadUrl(alice, { key: 'k'.repeat(70 * 1024) })
    conforms(t, outcome, 413, 'Problem')
    t.equal(outcome.error?.code, 'PAYLOAD_TOO_LARGE')
  })

  t.test('415 for a body that is not JSON', async (t) => {
    const outcome = await client.uploadUrlAsText(alice, { key: 'users/alice/a.txt', contentType: 'text/plain' })
    conforms(t, outcome, 415, 'Problem')
    t.equal(outcome.error?.code, 'UNSUPPORTED_MEDIA_TYPE')
  })

  t.test('503 when the permission service fails', async (t) => {
    app.permissions.respond((_check, res) => json(res, 500, { oops: true }))
    t.teardown(() => app.permissions.respond((_check, res) => json(res, 200, { allowed: true })))
    const outcome = await client.downloadUrl(alice, { key: 'users/alice/a.txt' })
    conforms(t, outcome, 503, 'Problem')
    t.equal(outcome.error?.code, 'PERMISSION_SERVICE_UNAVAILABLE')
    t.match(outcome.headers.get('retry-after'), /^\d+$/)
  })
})
