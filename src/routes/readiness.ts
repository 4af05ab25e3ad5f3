import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'

const CheckState = Type.Union([Type.Literal('ok'), Type.Literal('fail'), Type.Literal('unknown')])
const Checks = Type.Object({ storage: CheckState, permissions: CheckState, clock: CheckState })

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
        'and the clock agrees with storage\'s; 503 otherwise, naming the failing checks. Cached for about 5 seconds.',
      response: {
        200: Type.Object({ status: Type.Literal('ready'), checks: Checks }, { description: 'Ready: every check passed.' }),
        503: Type.Object({ status: Type.Literal('not_ready'), checks: Checks }, { description: 'Not ready: at least one check failed (or could not run).' })
      }
    }
  }, async (_request, reply) => {
    const { report } = await app.readiness.check()
    if (report.status === 'ready') return { status: 'ready' as const, checks: report.checks }
    return reply.code(503).send({ status: 'not_ready' as const, checks: report.checks })
  })
}

export default readiness
