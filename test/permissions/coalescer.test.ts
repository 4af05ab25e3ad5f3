/**
 * Micro-batching (src/permissions/coalescer.ts): with PERMISSIONS_BATCH_URL, single-route checks
 * that arrive together go to the batch endpoint in one round trip; a lone check still goes to
 * PERMISSIONS_URL; each request gets its own decision; a failed batch fails its checks closed.
 */
import t from 'tap'
import { build, type TestApp } from '../helpers/app.js'
import { json, startPermissionStub, type ReceivedCheck } from '../helpers/permission-stub.js'
import { createBatchPermissionClient, createPermissionClient } from '../../src/permissions/permission-client.js'
import { createCoalescingAsker } from '../../src/permissions/coalescer.js'
import { bearer, tokenFor } from '../helpers/tokens.js'

type Check = { key: string }
const decide = (check: ReceivedCheck, res: Parameters<typeof json>[0]) => {
  if (check.path === '/batch') return json(res, 200, { results: (check.body as { checks: Check[] }).checks.map((c) => ({ allowed: !c.key.includes('secret') })) })
  json(res, 200, { allowed: !(check.body as Check).key.includes('secret') })
}

async function concurrently (app: TestApp, keys: string[], token: string): Promise<number[]> {
  return await Promise.all(keys.map(async (key) => {
    const res = await app.post('/v1/download-urls', { key }, bearer(token))
    await res.body?.cancel()
    return res.status
  }))
}

t.test('concurrent single checks share batch round trips; a lone check uses /check', async (t) => {
  const app = await build(t, { batchPermissions: true, permissions: decide })
  const token = tokenFor('alice')
  const keys = Array.from({ length: 40 }, (_, i) => i === 7 ? 'users/alice/secret.txt' : `users/alice/${i}.jpg`)
  const statuses = await concurrently(app, keys, token)
  t.same(statuses, keys.map((key) => key.includes('secret') ? 403 : 200), 'each request gets its own decision')
  const calls = app.permissions.received
  const asked = calls.flatMap((call) => call.path === '/batch' ? (call.body as { checks: Check[] }).checks : [call.body as Check])
  t.same(asked.map((c) => c.key).sort(), [...keys].sort(), 'every check asked exactly once')
  t.ok(calls.length <= keys.length, `${calls.length} round trips for ${keys.length} checks`)
  for (const call of calls) t.equal(call.authorization, `Bearer ${token}`, 'each with the caller\'s Authorization')

  const before = app.permissions.received.length
  t.equal((await concurrently(app, ['users/alice/alone.jpg'], token))[0], 200)
  t.same(app.permissions.received.slice(before).map((call) => call.path), ['/check'], 'a lone check goes to PERMISSIONS_URL')
})

t.test('checks of different callers are never batched together', async (t) => {
  const app = await build(t, { batchPermissions: true, permissions: decide })
  const alice = tokenFor('alice')
  const bob = tokenFor('bob')
  await Promise.all([concurrently(app, ['a/1', 'a/2', 'a/3'], alice), concurrently(app, ['b/1', 'b/2', 'b/3'], bob)])
  for (const call of app.permissions.received) {
    const keys = call.path === '/batch' ? (call.body as { checks: Check[] }).checks.map((c) => c.key) : [(call.body as Check).key]
    const owner = call.authorization === `Bearer ${alice}` ? 'a/' : 'b/'
    t.ok(keys.every((key) => key.startsWith(owner)), `${keys.join(',')}: one caller's checks only`)
  }
})

t.test('checks asked in one turn of the event loop: one batch round trip; a failed one fails them closed', async (t) => {
  const stub = await startPermissionStub(decide)
  t.teardown(() => stub.close())
  const options = { timeoutMs: 500, maxConnections: 4 }
  const single = createPermissionClient({ ...options, url: stub.url })
  const many = createBatchPermissionClient({ ...options, url: stub.batchUrl })
  t.teardown(async () => { await Promise.all([single.close(), many.close()]) })
  const asker = createCoalescingAsker({ ask: single.ask, askMany: many.askMany, maxBatch: 4 })
  const query = (key: string) => ({ subject: 'alice', action: 'read' as const, bucket: 'media', key })

  const keys = ['a', 'b', 'secret', 'c', 'd', 'e']
  const answers = await Promise.all(keys.map((key) => asker.ask('Bearer x', query(key))))
  t.same(answers.map((answer) => answer.decision.outcome), ['allowed', 'allowed', 'denied', 'allowed', 'allowed', 'allowed'], 'each its own decision, in order')
  t.same(stub.received.map((call) => [call.path, (call.body as { checks: Check[] }).checks.length]), [['/batch', 4], ['/batch', 2]], 'one round trip per maxBatch checks')

  stub.respond((check, res) => check.path === '/batch' ? json(res, 200, { results: [{ allowed: true }] }) : json(res, 200, { allowed: true }))
  const failed = await Promise.all(['x', 'y'].map((key) => asker.ask('Bearer x', query(key))))
  t.same(failed.map((answer) => answer.decision.outcome), ['unavailable', 'unavailable'], 'a malformed batch answer: every check it carried fails closed')
  t.same(failed.map((answer) => answer.maxAgeSeconds), [0, 0], 'and is never reused')
})
