import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { HttpProblem } from '../../http/problem.js'
import { bearerToken, secretTokenMatches } from '../../http/secret-token.js'
import revocations from './revocations.js'

/**
 * /admin/v1: the operator's API. Registered only when ADMIN_TOKEN is set (otherwise these paths
 * answer 404 like any unknown path). Every request needs `Authorization: Bearer <ADMIN_TOKEN>`,
 * compared in constant time; wrong guesses count against the address' failed-authentication
 * budget like bad user tokens (429 past it).
 */
const admin: FastifyPluginAsync = async (app) => {
  const token = app.config.admin.token as string
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const blocked = app.rateLimits.blockedAddress(request)
    if (blocked !== undefined) throw blocked
    const presented = bearerToken(request.headers.authorization)
    if (presented !== undefined && secretTokenMatches(presented, token)) return
    const problem = new HttpProblem('UNAUTHORIZED', 'The admin API needs the admin token.', { 'www-authenticate': 'Bearer realm="r2-signer-admin"' })
    throw await app.rateLimits.failedAuthentication(request) ?? problem
  })
  await app.register(revocations)
}

export default admin
