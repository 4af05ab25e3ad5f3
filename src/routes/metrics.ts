import type { FastifyPluginAsync } from 'fastify'
import { HttpProblem } from '../http/problem.js'
import { scrape } from '../metrics/plugin.js'
import { problemResponsesFor } from '../openapi/problems.js'
import { bearerToken, secretTokenMatches } from '../http/secret-token.js'

/**
 * GET /metrics: Prometheus text format. Absent when METRICS_ENABLED=false; needs
 * `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set. The labels carry
 * no user data (route templates, statuses, operations, outcomes), so without a token
 * the exposure is aggregate traffic figures only.
 */
const metricsRoute: FastifyPluginAsync = async (app) => {
  const { enabled, token } = app.config.metrics
  if (!enabled) return

  app.get('/metrics', {
    schema: {
      operationId: 'getMetrics',
      tags: ['operations'],
      summary: 'Prometheus metrics',
      description: 'Prometheus text exposition format. Needs `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set; absent when METRICS_ENABLED=false.',
      // No credentials, or the metrics token when METRICS_TOKEN is set.
      security: [{}, { metricsToken: [] }],
      response: {
        200: { description: 'The metrics.', content: { 'text/plain': { schema: { type: 'string' } } } },
        401: { ...problemResponsesFor(['UNAUTHORIZED'])[401], description: 'METRICS_TOKEN is set and the request does not carry it as a bearer token.' }
      }
    }
  }, async (request, reply) => {
    if (token !== undefined) {
      const presented = bearerToken(request.headers.authorization)
      if (presented === undefined || !secretTokenMatches(presented, token)) {
        throw new HttpProblem('UNAUTHORIZED', 'The metrics need the metrics token.', { 'www-authenticate': 'Bearer realm="r2-signer-metrics"' })
      }
    }
    const { contentType, text } = await scrape(app.metrics)
    return reply.type(contentType).send(text)
  })
}

export default metricsRoute
