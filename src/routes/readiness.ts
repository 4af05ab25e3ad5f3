import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type, type Static } from 'typebox'

const CheckState = Type.Union([Type.Literal('ok'), Type.Literal('fail'), Type.Literal('unknown')])
const Checks = Type.Object({ storage: CheckState, permissions: CheckState, clock: CheckState })
const StorageSafety = Type.Object({
  verdict: Type.Union([Type.Literal('pending'), Type.Literal('safe'), Type.Literal('unsafe'), Type.Literal('unknown')], {
    description: 'The storage self-test: `safe` when storage refused every request an upload URL\'s holder must not be able to make; ' +
      '`unsafe` when it honoured one (unsigned `x-amz-*` headers, a wrong length, an expired or altered URL); `pending` before the first run ends; `unknown` when no run got a clear answer.'
  }),
  writes: Type.Union([Type.Literal('allowed'), Type.Literal('refused')], { description: 'Whether upload and multipart routes issue URLs now (refused: 503 STORAGE_UNSAFE).' }),
  mode: Type.Union([Type.Literal('refuse'), Type.Literal('warn')], { description: 'STORAGE_UNSAFE_HEADERS.' }),
  failedChecks: Type.Array(Type.String(), { description: 'The self-test checks storage failed, e.g. `unsigned-copy-source` (see docs/storage-safety.md).' }),
  checkedAt: Type.Optional(Type.String({ format: 'date-time', description: 'When the verdict was established.' }))
}, { description: 'Does storage keep what upload URLs promise? It does not change `status`: reads keep working either way. Absent when the self-test is off (embedded test builds only).' })
const SharedState = Type.Object({
  kind: Type.Union([Type.Literal('redis'), Type.Literal('memory')], { description: '`redis` with REDIS_URL (shared by the instances), `memory` without (this instance only).' }),
  redis: Type.Optional(Type.Union([Type.Literal('ok'), Type.Literal('fail')], { description: 'Whether the connection to Redis is up.' })),
  revocations: Type.Union([Type.Literal('in-sync'), Type.Literal('not-in-sync')], {
    description: 'Whether this instance\'s copy of the revocations is confirmed current. `not-in-sync` makes `status` not_ready unless REVOCATION_FAIL_OPEN=true: URL requests are refused (503 REVOCATION_UNAVAILABLE) meanwhile.'
  }),
  rateLimits: Type.Union([Type.Literal('enforced'), Type.Literal('open')], { description: '`open` while Redis is unavailable: rate limits are not enforced (they fail open).' })
}, { description: 'The state shared by the instances: rate limits, revocations, permission decisions.' })

/** What /readyz says of the shared state, and whether it keeps this instance from issuing URLs. */
function sharedStateReport (app: FastifyInstance): { report: Static<typeof SharedState>, blocking: boolean } {
  const { kind, redis, revocations } = app.sharedState
  const inSync = revocations.isAvailable()
  const redisUp = redis?.isReady()
  return {
    report: {
      kind,
      ...(redisUp !== undefined && { redis: redisUp ? 'ok' as const : 'fail' as const }),
      revocations: inSync ? 'in-sync' : 'not-in-sync',
      rateLimits: redisUp === false ? 'open' : 'enforced'
    },
    blocking: !inSync && !app.config.revocations.failOpen
  }
}

/**
 * GET /readyz: 200 when storage accepts our credentials for the default bucket, the
 * permission service answers, and our clock agrees with storage's; 503 otherwise, naming
 * the failing checks (reasons go to the log, not to the caller). No auth, cached ~5 s.
 * /healthz stays the liveness check: it never calls a dependency.
 */
const readiness: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/readyz', {
    schema: {
      operationId: 'getReadiness',
      tags: ['operations'],
      summary: 'Readiness',
      description: 'Answers 200 when storage accepts the credentials for the default bucket, the permission service answers, ' +
        'and the clock agrees with storage\'s, and (with Redis) the revocations are confirmed current or REVOCATION_FAIL_OPEN=true; 503 otherwise, naming the failing checks. Cached for about 5 seconds. ' +
        '`storageSafety` reports the storage self-test and whether writes are refused because of it; `sharedState` reports Redis.',
      response: {
        200: Type.Object({ status: Type.Literal('ready'), checks: Checks, storageSafety: Type.Optional(StorageSafety), sharedState: SharedState }, { description: 'Ready: every check passed.' }),
        503: Type.Object({ status: Type.Literal('not_ready'), checks: Checks, storageSafety: Type.Optional(StorageSafety), sharedState: SharedState }, { description: 'Not ready: at least one check failed (or could not run).' })
      }
    }
  }, async (_request, reply) => {
    const { report } = await app.readiness.check()
    const safety = app.storageSafety.status()
    const storageSafety = app.storageSafety.enabled ? { storageSafety: safety } : {}
    const shared = sharedStateReport(app)
    if (report.status === 'ready' && !shared.blocking) return { status: 'ready' as const, checks: report.checks, ...storageSafety, sharedState: shared.report }
    return reply.code(503).send({ status: 'not_ready' as const, checks: report.checks, ...storageSafety, sharedState: shared.report })
  })
}

export default readiness
