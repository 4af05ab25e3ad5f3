/**
 * The authorize step (src/permissions/plugin.ts) on its own: checkObject answers a decision or a
 * problem per object without throwing (what a batch route needs), in the order asked.
 */
import t from 'tap'
import { build } from '../helpers/app.js'
import { json } from '../helpers/permission-stub.js'
import { bearer, tokenFor } from '../helpers/tokens.js'

t.test('checkObject: one result per object, refusals as problems, nothing thrown', async (t) => {
  const app = await build(t, {
    env: { S3_ALLOWED_BUCKETS: 'archive' },
    permissions: (check, res) => json(res, 200, { allowed: (check.body as { key: string }).key !== 'secret.txt' }),
    beforeListen: (app) => app.post('/test/check-objects', { onRequest: app.authenticate }, async (request) => {
      const results = []
      for (const object of request.body as Array<{ bucket?: string, key: string }>) {
        const result = await app.checkObject(request, 'read', object)
        results.push(result.allowed
          ? { bucket: result.bucket, key: result.key, outcome: result.decision.outcome }
          : { code: result.problem.code, status: result.problem.statusCode })
      }
      return results
    })
  })
  const res = await app.post('/test/check-objects', [
    { key: 'a.txt' },
    { bucket: 'archive', key: 'b.txt' },
    { key: 'secret.txt' },
    { bucket: 'elsewhere', key: 'c.txt' }
  ], bearer(tokenFor('alice')))
  t.equal(res.status, 200, 'no refusal is thrown')
  t.same(await res.json(), [
    { bucket: 'media', key: 'a.txt', outcome: 'allowed' },
    { bucket: 'archive', key: 'b.txt', outcome: 'allowed' },
    { code: 'PERMISSION_DENIED', status: 403 },
    { code: 'BUCKET_NOT_ALLOWED', status: 403 }
  ])
  t.equal(app.permissions.received.length, 3, 'a bucket outside S3_ALLOWED_BUCKETS is refused without asking')
})

t.test('checkObject: revocations are checked before the permission service is asked; a revocation drops cached decisions', async (t) => {
  const app = await build(t, {
    env: { S3_ALLOWED_BUCKETS: 'archive' },
    permissions: (_check, res) => json(res, 200, { allowed: true }, { 'cache-control': 'max-age=60' }),
    beforeListen: (app) => app.post('/test/check-objects', { onRequest: app.authenticate }, async (request) => {
      const results = []
      for (const object of request.body as Array<{ bucket?: string, key: string }>) {
        const result = await app.checkObject(request, 'read', object)
        results.push(result.allowed ? { outcome: result.decision.outcome } : { code: result.problem.code, detail: result.problem.message })
      }
      return results
    })
  })
  const { revocations } = app.app.sharedState
  const ask = async (sub: string, objects: Array<{ bucket?: string, key: string }>) =>
    await (await app.post('/test/check-objects', objects, bearer(tokenFor(sub)))).json() as unknown[]

  t.same(await ask('alice', [{ key: 'users/a/1' }]), [{ outcome: 'allowed' }])
  t.equal(app.permissions.received.length, 1)
  t.same(await ask('alice', [{ key: 'users/a/1' }]), [{ outcome: 'allowed' }], 'cached')
  t.equal(app.permissions.received.length, 1)

  const bySubject = await revocations.create({ subject: 'mallory' })
  await revocations.create({ keyPrefix: 'users/b/', bucket: 'archive' })
  t.same(await ask('mallory', [{ key: 'x' }, { bucket: 'archive', key: 'y' }]), [
    { code: 'REVOKED', detail: 'URLs for this subject have been revoked.' },
    { code: 'REVOKED', detail: 'URLs for this subject have been revoked.' }
  ], 'a revoked subject: one REVOKED per object')
  t.same(await ask('alice', [{ bucket: 'archive', key: 'users/b/1' }, { key: 'users/b/1' }]), [
    { code: 'REVOKED', detail: 'URLs for keys under this prefix have been revoked.' },
    { outcome: 'allowed' }
  ], 'a revoked prefix in one bucket only')
  t.equal(app.permissions.received.length, 2, 'revoked objects never reach the permission service')

  await revocations.delete(bySubject.id)
  t.same(await ask('alice', [{ key: 'users/a/1' }]), [{ outcome: 'allowed' }])
  t.equal(app.permissions.received.length, 3, 'the decision cached before the revocations was dropped: asked again')
})
