import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { HttpProblem } from '../../http/problem.js'
import { problemResponsesFor } from '../../openapi/problems.js'
import { SharedStateUnavailableError } from '../../shared-state/redis.js'
import type { NewRevocation } from '../../shared-state/revocations.js'
import { CreateRevocationRequest, Revocation, RevocationList, RevocationParams } from '../../schemas/revocation.js'
import { adminAuth } from './shared.js'

const tags = ['admin']
const ADMIN_CODES = ['UNAUTHORIZED', 'RATE_LIMITED', 'REVOCATION_UNAVAILABLE'] as const

/** A store that cannot reach Redis: 503 (the change was not made, or the list cannot be read). */
async function orUnavailable<T> (operation: () => Promise<T>): Promise<T> {
  try {
    return await operation()
  } catch (error) {
    if (error instanceof SharedStateUnavailableError) {
      throw new HttpProblem('REVOCATION_UNAVAILABLE', 'The revocations cannot be read or changed right now (shared state unavailable); try again shortly.')
    }
    throw error
  }
}

/**
 * The revocation switch (src/shared-state/revocations.ts): in force on every instance within a
 * second, surviving restarts with Redis. URLs issued before a revocation stay valid until they expire.
 */
const revocations: FastifyPluginAsyncTypebox = async (app) => {
  const store = app.sharedState.revocations

  app.post('/revocations', {
    schema: {
      operationId: 'createRevocation',
      tags,
      summary: 'Revoke a subject or a key prefix',
      description: 'From now on, and on every instance within a second, no URL is issued for the subject, or for keys under the prefix ' +
        '(403 REVOKED), and cached permission decisions are dropped. URLs issued before stay valid until they expire.',
      security: adminAuth,
      body: CreateRevocationRequest,
      response: { 201: Revocation, ...problemResponsesFor([...ADMIN_CODES, 'INVALID_REQUEST', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE']) }
    }
  }, async (request, reply) => {
    const { expiresIn, ...target } = request.body
    const input = { ...target, ...(expiresIn !== undefined && { expiresInSeconds: expiresIn }) } as NewRevocation
    const revocation = await orUnavailable(() => store.create(input))
    request.log.info({ revocation }, 'revocation created')
    return reply.code(201).send(revocation)
  })

  app.get('/revocations', {
    schema: {
      operationId: 'listRevocations',
      tags,
      summary: 'List revocations',
      description: 'Every revocation in force, oldest first.',
      security: adminAuth,
      response: { 200: RevocationList, ...problemResponsesFor(ADMIN_CODES) }
    }
  }, async () => ({ revocations: await orUnavailable(() => store.list()) }))

  app.delete('/revocations/:id', {
    schema: {
      operationId: 'deleteRevocation',
      tags,
      summary: 'Lift a revocation',
      description: 'Lifts the revocation on every instance within a second. Decisions cached before it was made are not reused.',
      security: adminAuth,
      params: RevocationParams,
      response: { 204: Type.Null({ description: 'Lifted.' }), ...problemResponsesFor([...ADMIN_CODES, 'INVALID_REQUEST', 'REVOCATION_NOT_FOUND']) }
    }
  }, async (request, reply) => {
    const { id } = request.params
    const deleted = await orUnavailable(() => store.delete(id))
    if (!deleted) throw new HttpProblem('REVOCATION_NOT_FOUND')
    request.log.info({ revocationId: id }, 'revocation lifted')
    return reply.code(204).send(null)
  })
}

export default revocations
