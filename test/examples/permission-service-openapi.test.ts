/**
 * openapi/permission-service.json, the contract r2-signer expects of a permission
 * service, is hand-written; this keeps it true:
 *  - its request schema is the reference service's (examples/permission-service), field
 *    for field, and both accept and reject the same bodies;
 *  - what r2-signer really sends conforms to it;
 *  - the reference service's answers conform to it;
 *  - r2-signer reads each documented answer as documented.
 */
import { readFile } from 'node:fs/promises'
import t from 'tap'
import Schema from 'typebox/schema'
import { BatchCheckBodySchema, buildPermissionService, CheckBodySchema } from '../../examples/permission-service/server.js'
import { ActionSchema, type Policy } from '../../examples/permission-service/policy.js'
import { build } from '../helpers/app.js'
import { json } from '../helpers/permission-stub.js'
import { bearer, TEST_JWT_SECRET, tokenFor } from '../helpers/tokens.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const contract = JSON.parse(await readFile(new URL('../../openapi/permission-service.json', import.meta.url), 'utf8')) as Json
const schemas = contract.components.schemas as Record<string, Json>
const operation = contract.paths['/check'].post as Json
const check = (name: string, value: unknown) => Schema.Check(schemas[name] as Parameters<typeof Schema.Check>[0], value)

const policy: Policy = {
  decisionMaxAgeSeconds: 30,
  rules: [{ effect: 'allow', actions: ['read', 'write'], keys: 'users/${sub}/**' }]
}

t.test('the operation: POST, JSON body, bearer token, documented answers', async (t) => {
  t.same(operation.requestBody.content['application/json'].schema, { $ref: '#/components/schemas/PermissionCheckRequest' })
  t.equal(operation.requestBody.required, true)
  t.same(contract.security, [{ bearerAuth: [] }])
  t.match(contract.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
  t.same(Object.keys(operation.responses), ['200', '401', '403', 'default'])
  t.same(operation.responses['200'].content['application/json'].schema, { $ref: '#/components/schemas/PermissionDecision' })
  t.ok(operation.responses['200'].headers['Cache-Control'], 'Cache-Control documented')
  t.match(contract.info.description, /PERMISSIONS_URL/, 'says the path is PERMISSIONS_URL\'s')
})

t.test('the request schema is the reference service\'s', async (t) => {
  const documented = schemas.PermissionCheckRequest as Json
  const reference = JSON.parse(JSON.stringify(CheckBodySchema)) as Json
  t.same(documented.required, reference.required, 'required fields')
  t.same(Object.keys(documented.properties), Object.keys(reference.properties), 'fields')
  for (const name of ['subject', 'bucket', 'key']) {
    const { type, minLength, maxLength } = reference.properties[name] as Json
    t.match(documented.properties[name], { type, minLength, maxLength }, name)
  }
  const actions = (JSON.parse(JSON.stringify(ActionSchema)) as { anyOf: Array<{ const: string }> }).anyOf.map((member) => member.const)
  t.same(documented.properties.action.enum, actions, 'actions')
  t.notOk('additionalProperties' in documented, 'unknown fields are allowed (r2-signer may add some)')
})

t.test('the contract and the reference service accept the same bodies', async (t) => {
  const service = await buildPermissionService({ policy })
  t.teardown(() => service.close())
  const valid = { subject: 'alice', action: 'read', bucket: 'media', key: 'users/alice/a.txt' }
  const bodies: Array<[string, unknown]> = [
    ['read', valid],
    ['write', { ...valid, action: 'write' }],
    ['an unknown field', { ...valid, purpose: 'preview' }],
    ['longest fields', { subject: 's'.repeat(1024), action: 'read', bucket: 'b'.repeat(255), key: 'k'.repeat(1024) }],
    ['a unicode key', { ...valid, key: 'users/alice/Übersicht 2026 📄.pdf' }],
    ['no subject', { action: 'read', bucket: 'media', key: 'k' }],
    ['no action', { subject: 'alice', bucket: 'media', key: 'k' }],
    ['no bucket', { subject: 'alice', action: 'read', key: 'k' }],
    ['no key', { subject: 'alice', action: 'read', bucket: 'media' }],
    ['an empty subject', { ...valid, subject: '' }],
    ['an empty key', { ...valid, key: '' }],
    ['an empty bucket', { ...valid, bucket: '' }],
    ['another action', { ...valid, action: 'delete' }],
    ['a numeric subject', { ...valid, subject: 42 }],
    ['a subject too long', { ...valid, subject: 's'.repeat(1025) }],
    ['a key too long', { ...valid, key: 'k'.repeat(1025) }],
    ['a bucket too long', { ...valid, bucket: 'b'.repeat(256) }],
    ['an array', [valid]]
  ]
  for (const [what, body] of bodies) {
    const res = await service.inject({ method: 'POST', url: '/check', payload: body as object })
    const serviceAccepts = res.statusCode !== 400
    t.equal(check('PermissionCheckRequest', body), serviceAccepts, `${what}: ${serviceAccepts ? 'accepted' : 'rejected'} by both`)
  }
})

t.test('the reference service answers as documented', async (t) => {
  const service = await buildPermissionService({ policy, jwtSecret: TEST_JWT_SECRET })
  t.teardown(() => service.close())
  const ask = (body: object, headers: Record<string, string>) => service.inject({ method: 'POST', url: '/check', payload: body, headers })
  const alice = bearer(tokenFor('alice'))

  for (const [key, allowed] of [['users/alice/a.txt', true], ['users/bob/a.txt', false]] as const) {
    const res = await ask({ subject: 'alice', action: 'read', bucket: 'media', key }, alice)
    t.equal(res.statusCode, 200)
    t.ok(check('PermissionDecision', res.json()), 'a PermissionDecision')
    t.same(res.json(), { allowed })
    t.equal(res.headers['cache-control'], 'private, max-age=30', 'Cache-Control as documented')
  }
  const unauthenticated = await ask({ subject: 'alice', action: 'read', bucket: 'media', key: 'users/alice/a.txt' }, bearer('not-a-jwt'))
  t.equal(unauthenticated.statusCode, 401, 'a bad token is a 401')
  t.ok(check('PermissionError', unauthenticated.json()), 'the 401 body fits PermissionError')

  const limited = await buildPermissionService({ policy: { rules: [{ effect: 'allow', actions: ['write'], keys: 'users/${sub}/**', limits: { maxBytes: 10, contentTypes: ['image/*'], writeOnce: true } }] }, jwtSecret: TEST_JWT_SECRET })
  t.teardown(() => limited.close())
  const withLimits = await limited.inject({ method: 'POST', url: '/check', payload: { subject: 'alice', action: 'write', bucket: 'media', key: 'users/alice/a.png' }, headers: alice })
  t.same(withLimits.json(), { allowed: true, limits: { maxBytes: 10, contentTypes: ['image/*'], writeOnce: true } })
  t.ok(check('PermissionDecision', withLimits.json()), 'an answer with limits is a PermissionDecision')
  t.notOk(check('PermissionDecision', { allowed: true, limits: { maxBytes: -1 } }), 'malformed limits are not')
  t.notOk(check('PermissionDecision', { allowed: true, limits: { quota: 1 } }), 'nor unknown limits')

  const noCaching = await buildPermissionService({ policy: { rules: policy.rules }, jwtSecret: TEST_JWT_SECRET })
  t.teardown(() => noCaching.close())
  const res = await noCaching.inject({ method: 'POST', url: '/check', payload: { subject: 'alice', action: 'write', bucket: 'media', key: 'users/alice/a' }, headers: alice })
  t.equal(res.headers['cache-control'], 'no-store')
})

t.test('what r2-signer sends conforms to the contract', async (t) => {
  const app = await build(t)
  const token = tokenFor('alice')
  t.equal((await app.post('/v1/download-urls', { key: 'users/alice/a.txt' }, bearer(token))).status, 200)
  t.equal((await app.post('/v1/upload-urls', { key: 'users/alice/b.txt', contentType: 'text/plain', contentLength: 1 }, bearer(token))).status, 200)
  t.equal(app.permissions.received.length, 2)
  for (const received of app.permissions.received) {
    t.ok(check('PermissionCheckRequest', received.body), `${JSON.stringify(received.body)} is a PermissionCheckRequest`)
    t.same(Object.keys(received.body as object).sort(), [...(schemas.PermissionCheckRequest as Json).required].sort(), 'exactly the documented fields')
    t.equal(received.authorization, `Bearer ${token}`, 'the Authorization header, verbatim')
    t.match(received.contentType, /^application\/json/)
  }
  t.same(app.permissions.received.map((r) => (r.body as Json).action), ['read', 'write'])
})

t.test('r2-signer reads every documented answer as documented', async (t) => {
  const app = await build(t)
  const answers: Array<[string, (res: import('node:http').ServerResponse) => void, number, string | undefined]> = [
    ['200 allowed', (res) => json(res, 200, { allowed: true }), 200, undefined],
    ['200 denied', (res) => json(res, 200, { allowed: false }), 403, 'PERMISSION_DENIED'],
    ['401', (res) => json(res, 401, { error: 'invalid_token' }), 401, 'UNAUTHORIZED'],
    ['403', (res) => json(res, 403, {}), 403, 'PERMISSION_DENIED'],
    ['default: 500', (res) => json(res, 500, {}), 503, 'PERMISSION_SERVICE_UNAVAILABLE'],
    ['default: 302', (res) => json(res, 302, {}, { location: 'http://127.0.0.1:9/' }), 503, 'PERMISSION_SERVICE_UNAVAILABLE'],
    ['default: 200 without a boolean', (res) => json(res, 200, { allowed: 'yes' }), 503, 'PERMISSION_SERVICE_UNAVAILABLE'],
    ['200 allowed with limits (a read ignores them)', (res) => json(res, 200, { allowed: true, limits: { maxBytes: 1, writeOnce: true } }), 200, undefined],
    ['default: 200 with malformed limits', (res) => json(res, 200, { allowed: true, limits: { maxBytes: 1.5 } }), 503, 'PERMISSION_SERVICE_UNAVAILABLE']
  ]
  for (const [what, answer, status, code] of answers) {
    app.permissions.respond((_check, res) => answer(res))
    // A different key each time: no cached decision in the way.
    const res = await app.post('/v1/download-urls', { key: `users/alice/${what.replace(/\W+/g, '-')}` }, bearer(tokenFor('alice')))
    t.equal(res.status, status, `${what} → ${status}`)
    if (code !== undefined) t.equal((await res.json() as Json).code, code, `${what} → ${code}`)
    else await res.body?.cancel()
  }
})

t.test('the batch operation: documented, the reference service\'s, and what r2-signer sends and reads', async (t) => {
  const batchOperation = contract.paths['/batch'].post as Json
  t.same(batchOperation.requestBody.content['application/json'].schema, { $ref: '#/components/schemas/PermissionBatchRequest' })
  t.same(Object.keys(batchOperation.responses), ['200', '401', '403', 'default'])
  t.same(batchOperation.responses['200'].content['application/json'].schema, { $ref: '#/components/schemas/PermissionBatchDecision' })
  const reference = JSON.parse(JSON.stringify(BatchCheckBodySchema)) as Json
  t.same(schemas.PermissionBatchRequest?.required, reference.required, 'required fields')
  t.match(schemas.PermissionBatchRequest?.properties.checks, { minItems: reference.properties.checks.minItems, maxItems: reference.properties.checks.maxItems })
  // The components reference each other: inline them for the checker.
  const batchRequest = { ...schemas.PermissionBatchRequest, properties: { checks: { ...schemas.PermissionBatchRequest?.properties.checks, items: schemas.PermissionCheckRequest } } }
  const batchDecision = { ...schemas.PermissionBatchDecision, properties: { results: { ...schemas.PermissionBatchDecision?.properties.results, items: schemas.PermissionDecision } } }
  const fits = (schema: Json, value: unknown) => Schema.Check(schema as Parameters<typeof Schema.Check>[0], value)

  const service = await buildPermissionService({ policy, jwtSecret: TEST_JWT_SECRET })
  t.teardown(() => service.close())
  const checks = [{ subject: 'alice', action: 'read', bucket: 'media', key: 'users/alice/a.txt' }, { subject: 'alice', action: 'read', bucket: 'media', key: 'users/bob/a.txt' }]
  t.ok(fits(batchRequest, { checks }), 'a request fits PermissionBatchRequest')
  const res = await service.inject({ method: 'POST', url: '/batch', payload: { checks }, headers: bearer(tokenFor('alice')) })
  t.equal(res.statusCode, 200)
  t.ok(fits(batchDecision, res.json()), 'the reference answer is a PermissionBatchDecision')
  t.same(res.json(), { results: [{ allowed: true }, { allowed: false }] })
  for (const body of [{ checks: [] }, { checks: [{ ...checks[0], action: 'delete' }] }, { checks }]) {
    const served = await service.inject({ method: 'POST', url: '/batch', payload: body, headers: bearer(tokenFor('alice')) })
    t.equal(fits(batchRequest, body), served.statusCode !== 400, `${JSON.stringify(body).slice(0, 60)}: same verdict`)
  }

  const app = await build(t, {
    batchPermissions: true,
    permissions: (received, res) => json(res, 200, { results: (received.body as { checks: unknown[] }).checks.map(() => ({ allowed: true })) })
  })
  const token = tokenFor('alice')
  const answer = await app.post('/v1/batch', { items: [{ op: 'download', key: 'users/alice/a.txt' }, { op: 'upload', key: 'users/alice/b.txt', contentType: 'text/plain', contentLength: 1 }] }, bearer(token))
  t.equal(answer.status, 200)
  t.equal(app.permissions.received.length, 1)
  const sent = app.permissions.received[0]
  t.ok(fits(batchRequest, sent?.body), 'what r2-signer sends is a PermissionBatchRequest')
  t.same(Object.keys(sent?.body as object), ['checks'], 'exactly the documented field')
  t.equal(sent?.authorization, `Bearer ${token}`, 'the Authorization header, verbatim')
})
