import { createHmac } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { decide, decideWithLimits, loadPolicy, matchKey, parsePolicy, type Policy } from '../../examples/permission-service/policy.js'
import { parseUploadLimits } from '../../src/uploads/policy.js'
import { buildPermissionService } from '../../examples/permission-service/server.js'

const examplePolicy = await loadPolicy(fileURLToPath(new URL('../../examples/permission-service/policy.json', import.meta.url)))

const can = (policy: Policy, subject: string, action: 'read' | 'write', key: string, bucket = 'media') =>
  decide(policy, { subject, action, bucket, key })

t.test('example policy: own folder read/write, public read-only', async (t) => {
  t.ok(can(examplePolicy, 'alice', 'read', 'users/alice/a.png'))
  t.ok(can(examplePolicy, 'alice', 'write', 'users/alice/deep/er/a.png'))
  t.notOk(can(examplePolicy, 'alice', 'write', 'users/bob/a.png'))
  t.notOk(can(examplePolicy, 'alice', 'read', 'users/alice'), 'the folder name itself is not inside it')
  t.notOk(can(examplePolicy, 'alice', 'read', 'users/alicex/a.png'), 'prefix of another user')
  t.ok(can(examplePolicy, 'alice', 'read', 'public/x/y.css'))
  t.notOk(can(examplePolicy, 'alice', 'write', 'public/x/y.css'))
  t.notOk(can(examplePolicy, 'alice', 'read', 'private/x'), 'default deny')
})

t.test('glob semantics', async (t) => {
  const m = (p: string, key: string, sub = 'alice') => matchKey(p, sub, key)
  t.ok(m('a/*.png', 'a/x.png'))
  t.ok(m('a/*.png', 'a/.png'), '* may be empty')
  t.notOk(m('a/*.png', 'a/b/x.png'), '* stays inside one segment')
  t.notOk(m('a/*', 'a/b/c'))
  t.ok(m('a/**', 'a/b/c'))
  t.ok(m('a/**', 'a/'), 'a folder marker is inside the folder')
  t.notOk(m('a/**', 'a'))
  t.ok(m('**/x.txt', 'x.txt'), 'leading **/ matches zero segments')
  t.ok(m('**/x.txt', 'p/q/x.txt'))
  t.ok(m('a/**/z', 'a/z'))
  t.ok(m('a/**/z', 'a/b/c/z'))
  t.notOk(m('a/**/z', 'a/b/zz'))
  t.ok(m('**', 'anything/at/all'))
  t.ok(m('a.b/(c)+[d]', 'a.b/(c)+[d]'), 'regexp characters are literal')
  t.notOk(m('a.b', 'axb'))
  t.ok(m('a/b', 'a/b') && !m('a/b', 'a/b/'), 'exact match without globs')
  t.ok(m('a/*', 'a/line\nbreak'), 'keys may contain newlines')
})

t.test('${sub} cannot escape its folder', async (t) => {
  // Glob characters in the subject are literal.
  t.ok(can(examplePolicy, '*', 'read', 'users/*/x'))
  t.notOk(can(examplePolicy, '*', 'read', 'users/bob/x'))
  t.notOk(can(examplePolicy, '**', 'read', 'users/bob/x'))
  t.notOk(can(examplePolicy, 'a.c', 'read', 'users/abc/x'))
  t.ok(can(examplePolicy, 'auth0|123', 'write', 'users/auth0|123/x'))
  // A subject with a slash would otherwise get a folder inside another user's folder.
  t.notOk(can(examplePolicy, 'a/b', 'read', 'users/a/b/x'))
  t.notOk(can(examplePolicy, '../bob', 'read', 'users/../bob/x'))
  t.notOk(can(examplePolicy, '../bob', 'read', 'bob/x'))
  t.notOk(can(examplePolicy, '..', 'read', 'users/../x'))
  t.notOk(can(examplePolicy, '', 'read', 'users//x'))
  // ...but such subjects still get what does not depend on ${sub}.
  t.ok(can(examplePolicy, 'a/b', 'read', 'public/x'))
  // Dot segments in keys are never allowed, whatever the rule.
  t.notOk(can(examplePolicy, 'alice', 'read', 'users/alice/../bob/x'))
  t.notOk(can(examplePolicy, 'alice', 'read', 'users/alice/./x'))
  t.ok(can(examplePolicy, 'alice', 'read', 'users/alice/..x/.y'), 'dots inside names are fine')
})

t.test('deny rules win, buckets filter, keys may be a list', async (t) => {
  const policy = parsePolicy({
    rules: [
      { effect: 'allow', actions: ['read', 'write'], keys: ['users/${sub}/**', 'shared/**'], buckets: ['media'] },
      { effect: 'deny', actions: ['write'], keys: 'users/${sub}/.system/**' },
      { effect: 'deny', actions: ['read'], keys: 'users/${sub}/secret' }
    ]
  })
  t.ok(can(policy, 'alice', 'write', 'users/alice/a'))
  t.ok(can(policy, 'alice', 'write', 'shared/a'))
  t.notOk(can(policy, 'alice', 'write', 'users/alice/a', 'other-bucket'))
  t.notOk(can(policy, 'alice', 'write', 'users/alice/.system/x'))
  t.ok(can(policy, 'alice', 'read', 'users/alice/.system/x'))
  t.notOk(can(policy, 'a/b', 'read', 'shared/x'), 'an unsafe subject makes ${sub} deny rules match (fail closed)')
})

t.test('policy validation', async (t) => {
  t.throws(() => parsePolicy({ rules: [{ effect: 'allow', actions: ['delete'], keys: '**' }] }), /\/rules\/0\/actions/)
  t.throws(() => parsePolicy({ rules: [{ effect: 'allow', actions: [], keys: '**' }] }))
  t.throws(() => parsePolicy({ rules: [{ effect: 'allow', actions: ['read'] }] }))
  t.throws(() => parsePolicy({ rules: [{ effect: 'maybe', actions: ['read'], keys: '**' }] }))
  t.throws(() => parsePolicy({ rules: [], extra: 1 }))
  t.throws(() => parsePolicy({ rules: [], decisionMaxAgeSeconds: -1 }))
  t.throws(() => parsePolicy({ rules: [{ effect: 'allow', actions: ['read'], keys: 'u/${user}/**' }] }), /unknown variable/)
  t.throws(() => parsePolicy({ rules: [{ effect: 'allow', actions: ['read'], keys: 'u/**.png' }] }), /whole segment/)
  t.same(parsePolicy({ rules: [] }), { rules: [] })

  const dir = await mkdtemp(join(tmpdir(), 'policy-'))
  await writeFile(join(dir, 'bad.json'), '{ not json')
  await t.rejects(loadPolicy(join(dir, 'bad.json')), /not valid JSON/)
})

// --- HTTP ---------------------------------------------------------------------------------------

const secret = 'test-secret-at-least-32-bytes-long!!'

function jwt (payload: object, key = secret, header: object = { alg: 'HS256', typ: 'JWT' }): string {
  const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const unsigned = `${b64(header)}.${b64(payload)}`
  return `${unsigned}.${createHmac('sha256', key).update(unsigned).digest('base64url')}`
}

async function serve (t: Test, policy: Policy, jwtSecret?: string): Promise<string> {
  const app = await buildPermissionService({ policy, jwtSecret })
  t.teardown(() => app.close())
  return app.listen({ port: 0, host: '127.0.0.1' })
}

async function check (base: string, body: unknown, token?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  const res = await fetch(`${base}/check`, { method: 'POST', headers, body: JSON.stringify(body) })
  return { status: res.status, cacheControl: res.headers.get('cache-control'), body: await res.json() as unknown }
}

const now = () => Math.floor(Date.now() / 1000)
const aliceReads = (key: string) => ({ subject: 'alice', action: 'read', bucket: 'media', key })

t.test('HTTP with JWT verification', async (t) => {
  const base = await serve(t, examplePolicy, secret)
  const alice = jwt({ sub: 'alice', exp: now() + 60 })

  let r = await check(base, aliceReads('users/alice/a.png'), alice)
  t.same([r.status, r.body, r.cacheControl], [200, { allowed: true }, 'no-store'])

  r = await check(base, aliceReads('users/bob/a.png'), alice)
  t.same([r.status, r.body], [200, { allowed: false }])

  r = await check(base, { ...aliceReads('users/bob/a.png'), subject: 'bob' }, alice)
  t.same([r.status, r.body], [200, { allowed: false }], 'token sub must equal body.subject')

  r = await check(base, { ...aliceReads('users/alice/a'), ignoredFutureField: 1 }, alice)
  t.same([r.status, r.body], [200, { allowed: true }], 'unknown body fields are ignored')

  const bad: Array<[string, string | undefined]> = [
    ['no token', undefined],
    ['wrong key', jwt({ sub: 'alice' }, 'another-secret-another-secret-another')],
    ['expired', jwt({ sub: 'alice', exp: now() - 60 })],
    ['no sub', jwt({ name: 'alice' })],
    ['alg none', jwt({ sub: 'alice' }, secret, { alg: 'none' }).replace(/[^.]*$/, '')],
    ['garbage', 'not-a-jwt']
  ]
  for (const [name, token] of bad) {
    r = await check(base, aliceReads('users/alice/a'), token)
    t.equal(r.status, 401, `401: ${name}`)
  }
  // A non-Bearer scheme is a token problem too (@fastify/jwt would say 400).
  const res = await fetch(`${base}/check`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Basic ${alice}` },
    body: JSON.stringify(aliceReads('users/alice/a'))
  })
  t.equal(res.status, 401, '401: Basic scheme')
  t.equal(res.headers.get('www-authenticate'), 'Bearer')

  r = await check(base, { subject: 'alice', action: 'delete', bucket: 'media', key: 'users/alice/a' }, alice)
  t.equal(r.status, 400, '400: unknown action')
  t.equal(r.cacheControl, 'no-store')
  for (const body of [{ subject: 'alice' }, { ...aliceReads('k'), key: '' }, { ...aliceReads('k'), subject: 42 }, []]) {
    r = await check(base, body, alice)
    t.equal(r.status, 400, `400: ${JSON.stringify(body)}`)
  }
  r = await check(base, { subject: 'alice' }, undefined)
  t.equal(r.status, 401, 'the token is checked before the body')

  const health = await fetch(`${base}/healthz`)
  t.equal(health.status, 200)
})

t.test('HTTP without JWT secret trusts body.subject; max-age from the policy', async (t) => {
  const base = await serve(t, { ...examplePolicy, decisionMaxAgeSeconds: 30 })
  let r = await check(base, aliceReads('users/alice/a'))
  t.same([r.status, r.body, r.cacheControl], [200, { allowed: true }, 'private, max-age=30'])
  r = await check(base, aliceReads('users/bob/a'))
  t.same([r.status, r.body, r.cacheControl], [200, { allowed: false }, 'private, max-age=30'])
  r = await check(base, { nope: true })
  t.same([r.status, r.cacheControl], [400, 'no-store'])
})

t.test('HTTP batch endpoint: the same decisions in order, one Cache-Control, the token checked first', async (t) => {
  const base = await serve(t, { ...examplePolicy, decisionMaxAgeSeconds: 30 }, secret)
  const alice = jwt({ sub: 'alice', exp: now() + 60 })
  const post = (body: unknown, token?: string) => fetch(`${base}/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token !== undefined && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body)
  })
  const checks = [
    aliceReads('users/alice/a.png'),
    aliceReads('users/bob/a.png'),
    { ...aliceReads('users/bob/a.png'), subject: 'bob' },
    { subject: 'alice', action: 'write', bucket: 'media', key: 'users/alice/new.txt' },
    { subject: 'alice', action: 'write', bucket: 'media', key: 'public/x.css' }
  ]
  const res = await post({ checks }, alice)
  t.equal(res.status, 200)
  t.equal(res.headers.get('cache-control'), 'private, max-age=30')
  t.same(await res.json(), { results: [{ allowed: true }, { allowed: false }, { allowed: false }, { allowed: true }, { allowed: false }] },
    'each check decided as /check decides it (token sub must equal each subject)')
  for (const [name, body] of [['no checks', { checks: [] }], ['not a list', { checks: checks[0] }], ['a bad check', { checks: [{ ...checks[0], action: 'delete' }] }]] as const) {
    const bad = await post(body, alice)
    t.equal(bad.status, 400, `400: ${name}`)
  }
  t.equal((await post({ checks }, undefined)).status, 401, '401 without a token')
})

t.test('limits per prefix: the example\'s avatars are images up to 2 MiB, write-once', async (t) => {
  const avatar = decideWithLimits(examplePolicy, { subject: 'alice', action: 'write', bucket: 'media', key: 'users/alice/avatar/me.png' })
  t.same(avatar, { allowed: true, limits: { maxBytes: 2 * 1024 * 1024, contentTypes: ['image/*'], writeOnce: true } })
  t.ok(parseUploadLimits(avatar.limits).ok, 'limits r2-signer reads as well formed')
  t.same(decideWithLimits(examplePolicy, { subject: 'alice', action: 'read', bucket: 'media', key: 'users/alice/avatar/me.png' }), { allowed: true }, 'reads carry no limits')
  t.same(decideWithLimits(examplePolicy, { subject: 'alice', action: 'write', bucket: 'media', key: 'users/alice/videos/a.mp4' }), { allowed: true }, 'elsewhere: no limits')
  t.same(decideWithLimits(examplePolicy, { subject: 'bob', action: 'write', bucket: 'media', key: 'users/alice/avatar/me.png' }), { allowed: false })

  const combined = parsePolicy({
    rules: [
      { effect: 'allow', actions: ['write'], keys: 'up/**', limits: { maxBytes: 100, contentTypes: ['image/png'] } },
      { effect: 'allow', actions: ['write'], keys: 'up/big/**', limits: { maxBytes: 10, writeOnce: true, contentTypes: ['image/*'] } }
    ]
  })
  t.same(decideWithLimits(combined, { subject: 'a', action: 'write', bucket: 'media', key: 'up/big/x' }).limits, { maxBytes: 10, contentTypes: ['image/png'], writeOnce: true }, 'several rules: the tighter size, write-once if any, the first rule\'s types')
  t.throws(() => parsePolicy({ rules: [{ effect: 'deny', actions: ['write'], keys: 'a/**', limits: { maxBytes: 1 } }] }), /only allow rules carry limits/)
  t.throws(() => parsePolicy({ rules: [{ effect: 'allow', actions: ['write'], keys: 'a/**', limits: { maxBytes: -1 } }] }), /invalid/)
  t.throws(() => parsePolicy({ rules: [{ effect: 'allow', actions: ['write'], keys: 'a/**', limits: { contentTypes: ['image'] } }] }), /invalid/)

  const base = await serve(t, examplePolicy)
  const r = await check(base, { subject: 'alice', action: 'write', bucket: 'media', key: 'users/alice/avatar/me.png' })
  t.same([r.status, r.body], [200, { allowed: true, limits: { maxBytes: 2097152, contentTypes: ['image/*'], writeOnce: true } }], 'sent with the decision')
})
