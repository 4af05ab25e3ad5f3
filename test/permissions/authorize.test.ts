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
