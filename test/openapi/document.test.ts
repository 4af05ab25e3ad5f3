/**
 * The OpenAPI document: the committed openapi/openapi.json and .yaml are exactly what
 * the app generates (else: `npm run openapi`), it names its components after the
 * schemas' $ids, documents every route with its security and problem+json errors, does
 * not depend on the environment, and is served at /openapi.json (swagger UI at /docs
 * only with DOCS_ENABLED=true).
 */
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parse } from 'yaml'
import { generateOpenApi, OPENAPI_ENV, OPENAPI_JSON_FILE, OPENAPI_YAML_FILE } from '../../scripts/openapi-document.js'
import { problemType } from '../../src/http/problem.js'
import { PROBLEMS } from '../../src/http/problem-catalogue.js'
import { NamedSchemas } from '../../src/openapi/named-schemas.js'
import { build } from '../helpers/app.js'

const root = new URL('../../', import.meta.url)
const readText = (file: string) => readFile(new URL(file, root), 'utf8')

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
interface Operation { operationId?: string, security?: unknown, tags?: string[], summary?: string, responses: Record<string, Json>, requestBody?: Json }

const generated = await generateOpenApi()
const document = generated.document as Json

function operations (doc: Json): Array<{ method: string, path: string, operation: Operation }> {
  return Object.entries(doc.paths as Record<string, Record<string, Operation>>).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({ method, path, operation })))
}

/** `METHOD /path` of every route, from printRoutes' tree (one level of indentation is 4 columns). */
function servedRoutes (tree: string): string[] {
  const stack: string[] = []
  const routes: string[] = []
  for (const line of tree.split('\n')) {
    const match = /^(.*?)(\/\S*) \(([^)]*)\)/.exec(line)
    if (match === null) continue
    const [, indent, segment, methods] = match as unknown as [string, string, string, string]
    const depth = Math.max(0, indent.length / 4 - 1)
    stack.length = depth
    stack.push(segment)
    if (methods === '-') continue
    for (const method of methods.split(', ')) routes.push(`${method} ${stack.join('')}`)
  }
  return routes
}

t.test('the committed documents are the generated ones', async (t) => {
  const hint = 'openapi/ is stale: run `npm run openapi` and commit the result'
  t.equal(await readText(OPENAPI_JSON_FILE), generated.json, `${OPENAPI_JSON_FILE}: ${hint}`)
  t.equal(await readText(OPENAPI_YAML_FILE), generated.yaml, `${OPENAPI_YAML_FILE}: ${hint}`)
  t.same(parse(generated.yaml), document, 'the YAML says the same as the JSON')
})

t.test('the document does not depend on the environment', async (t) => {
  const other = await generateOpenApi({
    DOCS_ENABLED: 'true',
    LOG_LEVEL: 'debug',
    PORT: '1234',
    S3_ENDPOINT: 'https://storage.example.org',
    S3_BUCKET: 'other-bucket',
    S3_ALLOWED_BUCKETS: 'media,archive',
    SIGNED_URL_TTL_SECONDS: '60',
    SIGNED_URL_MAX_TTL_SECONDS: '120',
    PERMISSIONS_URL: 'https://permissions.example.org/v2/decide'
  })
  t.equal(other.json, generated.json)
})

t.test('info, servers and security scheme', async (t) => {
  const pkg = JSON.parse(await readText('package.json')) as { version: string }
  t.equal(document.openapi, '3.1.0')
  t.match(document.info, { title: 'r2-signer', version: pkg.version, description: /problem details/ })
  t.ok(document.servers.length > 0, 'servers')
  t.same(document.components.securitySchemes.bearerAuth, {
    type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: document.components.securitySchemes.bearerAuth.description
  })
  const declared = (document.tags as Json[]).map((tag) => tag.name)
  for (const { operation } of operations(document)) {
    for (const tag of operation.tags ?? []) t.ok(declared.includes(tag), `tag ${tag} is declared`)
  }
})

t.test('components are named after the schemas\' $ids', async (t) => {
  const names = Object.keys(document.components.schemas as Json)
  for (const name of ['DownloadUrlRequest', 'DownloadUrlResponse', 'UploadUrlRequest', 'UploadUrlResponse', 'Problem', 'HealthStatus']) {
    t.ok(names.includes(name), name)
  }
  t.same(names, [...names].sort(), 'in alphabetical order')
  t.notMatch(generated.json, /def-\d/, 'no generated def-N name')
  t.notMatch(generated.json, /"\$id"/, 'no $id left in the document')
  const download = document.paths['/v1/download-urls'].post as Operation
  t.same(download.requestBody, { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/DownloadUrlRequest' } } } })
  t.same(download.responses['200']?.content, { 'application/json': { schema: { $ref: '#/components/schemas/DownloadUrlResponse' } } })
  t.match(document.components.schemas.DownloadUrlRequest.properties.key, { type: 'string', format: 'object-key', minLength: 1, maxLength: 1024 })
  t.match(document.components.schemas.DownloadUrlRequest.properties.filename, { type: 'string', format: 'filename', description: /Format `filename`/ })
})

t.test('every route is documented, with operationId, summary and the right security', async (t) => {
  const app = await build(t)
  const documented = new Set(operations(document).map(({ method, path }) => `${method.toUpperCase()} ${path}`))
  // Every route but /openapi.json must be in the document (HEAD twins of GET are implicit).
  const routes = servedRoutes(app.app.printRoutes({ commonPrefix: false }))
  t.ok(routes.length >= documented.size, 'routes found')
  for (const route of routes.filter((route) => !route.startsWith('HEAD ') && route !== 'GET /openapi.json')) {
    t.ok(documented.has(route.replace(/:(\w+)/g, '{$1}')), `${route} is documented`)
  }
  const ids = new Set<string>()
  for (const { method, path, operation } of operations(document)) {
    const name = `${method.toUpperCase()} ${path}`
    t.type(operation.operationId, 'string', `${name} has an operationId`)
    t.notOk(ids.has(operation.operationId as string), `${name}: unique operationId`)
    ids.add(operation.operationId as string)
    t.type(operation.summary, 'string', `${name} has a summary`)
    if (path.startsWith('/v1/')) {
      t.same(operation.security, [{ bearerAuth: [] }], `${name} needs the bearer token`)
      t.ok(operation.responses['401'] !== undefined, `${name} documents 401`)
    } else if (path === '/healthz' || path === '/readyz') {
      t.same(operation.security, [], `${name} is public`)
    }
  }
})

t.test('errors are problem+json with examples of the right shape', async (t) => {
  const examples: Json[] = []
  for (const { method, path, operation } of operations(document)) {
    for (const [status, response] of Object.entries(operation.responses)) {
      const media = response.content?.['application/problem+json']
      if (!path.startsWith('/v1/') || Number(status) < 400) continue
      t.ok(media !== undefined, `${method} ${path} ${status} is application/problem+json`)
      t.same(media?.schema, { $ref: '#/components/schemas/Problem' }, `${method} ${path} ${status}: Problem`)
      t.type(response.description, 'string')
      for (const example of Object.values(media?.examples ?? {}) as Json[]) {
        t.equal(example.value.status, Number(status), `${method} ${path} ${status}: example ${String(example.value.code)} has this status`)
        examples.push(example.value)
      }
    }
  }
  t.ok(examples.length > 0, 'examples')
  for (const value of examples) {
    const code = value.code as keyof typeof PROBLEMS
    t.same(value, { type: problemType(code), title: PROBLEMS[code].title, status: PROBLEMS[code].status, detail: value.detail, code }, `example ${code}`)
  }
  const download = document.paths['/v1/download-urls'].post as Operation
  t.same(Object.keys(download.responses), ['200', '400', '401', '403', '413', '415', '429', '503'])
  t.same(Object.keys(download.responses['429']?.headers ?? {}), ['Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'], '429 headers documented')
  t.ok(download.responses['401']?.headers?.['WWW-Authenticate'], 'WWW-Authenticate documented')
  t.ok(download.responses['503']?.headers?.['Retry-After'], 'Retry-After documented')
  t.same(document.components.schemas.Problem.properties.code.enum, Object.keys(PROBLEMS), 'every problem code')
})

t.test('GET /openapi.json serves the document; /docs needs DOCS_ENABLED', async (t) => {
  t.test('DOCS_ENABLED unset (production default)', async (t) => {
    // The committed document includes the admin routes, which exist only with ADMIN_TOKEN.
    const { url } = await build(t, { env: { ADMIN_TOKEN: OPENAPI_ENV.ADMIN_TOKEN as string } })
    const res = await fetch(url + '/openapi.json')
    t.equal(res.status, 200)
    t.match(res.headers.get('content-type'), /^application\/json/)
    t.same(await res.json(), document, 'the committed document')
    const docs = await fetch(url + '/docs')
    t.equal(docs.status, 404, 'no /docs')
    t.match(docs.headers.get('content-type'), /^application\/problem\+json/)
  })

  t.test('DOCS_ENABLED=true', async (t) => {
    const { url } = await build(t, { env: { DOCS_ENABLED: 'true', ADMIN_TOKEN: OPENAPI_ENV.ADMIN_TOKEN as string } })
    const page = await fetch(url + '/docs/')
    t.equal(page.status, 200)
    t.match(page.headers.get('content-type'), /^text\/html/)
    t.match(await page.text(), /swagger/i, 'swagger UI')
    const spec = await fetch(url + '/docs/json')
    t.equal(spec.status, 200)
    const served = await spec.json() as Json
    t.same(served.servers[0], { url: '/', description: 'This instance' }, '"Try it out" targets the serving instance')
    t.same({ ...served, servers: served.servers.slice(1) }, document, 'otherwise the same document')
    t.same(await (await fetch(url + '/openapi.json')).json(), document, '/openapi.json unchanged')
  })
})

t.test('named schemas: one schema per $id, usable names', async (t) => {
  const named = new NamedSchemas()
  const body = { $id: 'Thing', type: 'object', properties: { a: { type: 'string' } } }
  named.collect({ body, response: { 200: { $id: 'ThingResponse', type: 'object', description: 'The thing.' } } }, 'POST /a')
  named.collect({ body: { ...body } }, 'POST /b')
  t.same(Object.keys(named.schemas), ['Thing', 'ThingResponse'], 'an equal schema may be reused under its $id')
  t.same(named.reference({ body, response: { 200: { $id: 'ThingResponse', description: 'The thing.' } } }), {
    body: { $ref: '#/components/schemas/Thing' },
    response: { 200: { $ref: '#/components/schemas/ThingResponse', description: 'The thing.' } }
  }, 'references keep the response description')
  // Fastify's Ajv keeps one validator per $id: a different schema under a known $id would be validated as the first.
  t.throws(() => named.collect({ body: { ...body, properties: { b: { type: 'number' } } } }, 'POST /c'),
    /POST \/c: schema \$id "Thing" is already used by a different schema/)
  t.throws(() => named.collect({ body: { $id: 'not a name', type: 'object' } }, 'POST /d'), /not a valid component name/)
  t.same(named.reference(undefined), undefined)
})
