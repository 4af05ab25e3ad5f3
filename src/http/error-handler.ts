import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply } from 'fastify'
import { HttpProblem, PROBLEM_CONTENT_TYPE } from './problem.js'
import { OBJECT_KEY_RULES } from '../signing/object-key.js'

/**
 * Every error leaves as problem+json with the right status. Unknown errors become
 * a bare 500: their messages and stacks go to the log, never to the caller.
 */
export default fp(async function errorHandling (app) {
  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    const problem = toProblem(error)
    if (problem.statusCode >= 500 && !(error instanceof HttpProblem)) {
      request.log.error({ err: error }, 'unhandled error')
    }
    return sendProblem(reply, problem)
  })

  app.setNotFoundHandler(async (request, reply) => {
    return sendProblem(reply, new HttpProblem('NOT_FOUND', `No route for ${request.method} ${request.url.split('?')[0]}.`))
  })
}, { name: 'error-handling' })

export function sendProblem (reply: FastifyReply, problem: HttpProblem) {
  return reply.code(problem.statusCode).headers(problem.headers).type(PROBLEM_CONTENT_TYPE).send(problem.toBody())
}

interface ValidationIssue { instancePath: string, keyword: string, message?: string, params: Record<string, unknown> }

function toProblem (error: FastifyError): HttpProblem {
  if (error instanceof HttpProblem) return error
  if (Array.isArray(error.validation)) return validationProblem(error.validation as ValidationIssue[], error.validationContext ?? 'body')
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpProblem('UNSUPPORTED_MEDIA_TYPE', 'Send the request body as application/json.')
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpProblem('PAYLOAD_TOO_LARGE', 'The request body is larger than allowed.')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpProblem('INVALID_REQUEST', 'The JSON body is empty.')
  }
  if (error instanceof SyntaxError || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new HttpProblem('INVALID_REQUEST', 'The body is not valid JSON.')
  }
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new HttpProblem('INVALID_REQUEST', 'The request could not be processed.')
  }
  return new HttpProblem('INTERNAL_ERROR', 'An unexpected error occurred.')
}

/** Names the offending field; key and expiresIn get their own codes since clients branch on them. */
function validationProblem (issues: ValidationIssue[], context: string): HttpProblem {
  const issue = issues[0] as ValidationIssue
  const field = issue.instancePath.replace(/^\//, '').replaceAll('/', '.')
  if (field === 'key' && issue.keyword !== 'type') {
    return new HttpProblem('INVALID_KEY', `Invalid key: ${OBJECT_KEY_RULES}.`)
  }
  if (field === 'expiresIn') {
    return new HttpProblem('INVALID_EXPIRES_IN', `expiresIn ${issue.message ?? 'is invalid'}.`)
  }
  const where = field === '' ? context : `${context}.${field}`
  const what = issue.keyword === 'additionalProperties'
    ? `must not have the property "${String(issue.params.additionalProperty)}"`
    : issue.keyword === 'format' ? `must be a valid ${String(issue.params.format)}` : issue.message ?? 'is invalid'
  return new HttpProblem('INVALID_REQUEST', `${where} ${what}.`)
}
