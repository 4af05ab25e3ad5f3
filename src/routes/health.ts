import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'

/** GET /healthz: the process is up and serving (no auth, no dependency calls). */
const health: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/healthz', {
    schema: {
      operationId: 'getLiveness',
      tags: ['operations'],
      summary: 'Liveness',
      description: 'Answers 200 while the process is up and serving. Checks no dependency.',
      response: { 200: Type.Object({ status: Type.Literal('ok') }, { $id: 'HealthStatus', description: 'The process is up.' }) }
    }
  }, async () => ({ status: 'ok' as const }))
}

export default health
