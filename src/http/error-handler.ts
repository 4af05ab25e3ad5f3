import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply } from 'fastify'
import { HttpProblem, PROBLEM_CONTENT_TYPE } from './problem.js'
import { problemEntry, type ProblemCode } from './problem-catalogue.js'
import { ERROR_CODE_KEYWORD } from './ajv.js'
import { describeIssue, type ValidationIssue } from './validation-words.js'
import { objectKeyFault, OBJECT_KEY_RULES } from '../schemas/object-key.js'
import { allowedMethodsRouter } from './allowed-methods.js'

/**
 * Every error leaves as problem+json with the right status. Unknown errors become
 * a bare 500: their messages and stacks go to the log, never to the caller.
 */
export default fp(async function errorHandling (app) {
  const { maxTtlSeconds } = app.config.signedUrls
  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    const problem = toProblem(error, maxTtlSeconds)
    if (problem.statusCode >= 500 && !(error instanceof HttpProblem)) {
      request.log.error({ err: error }, 'unhandled error')
    }
    return sendProblem(reply, problem)
  })

  // A known path asked with another method is a 405 with Allow, not a 404.
  const routes = allowedMethodsRouter(app)
  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0] as string
    const allowed = routes.allowedMethods(path)
    if (allowed.length > 0) {
      const use = allowed.filter((method) => method !== 'HEAD')
      return sendProblem(reply, new HttpProblem('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}; use ${use.join(' or ')}.`, { allow: allowed.join(', ') }))
    }
    return sendProblem(reply, new HttpProblem('NOT_FOUND', `No route for ${request.method} ${path}.`))
  })
}, { name: 'error-handling', dependencies: ['config'] })

export function sendProblem (reply: FastifyReply, problem: HttpProblem) {
  return reply.code(problem.statusCode).headers(problem.headers).type(PROBLEM_CONTENT_TYPE).send(problem.toBody())
}

function toProblem (error: FastifyError, maxTtlSeconds: number): HttpProblem {
  if (error instanceof HttpProblem) return error
  if (Array.isArray(error.validation)) return validationProblem(error.validation as ValidationIssue[], error.validationContext ?? 'body', maxTtlSeconds)
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpProblem('UNSUPPORTED_MEDIA_TYPE')
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpProblem('PAYLOAD_TOO_LARGE')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpProblem('INVALID_REQUEST', 'The JSON body is empty.')
  }
  if (error instanceof SyntaxError || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new HttpProblem('INVALID_REQUEST', 'The body is not valid JSON.')
  }
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new HttpProblem('INVALID_REQUEST', 'The request could not be processed.')
  }
  return new HttpProblem('INTERNAL_ERROR')
}

/**
 * Names the offending field and says in words what is wrong with it (./validation-words.ts).
 * A schema may carry its own problem code (`errorCode`) since clients branch on it: INVALID_KEY
 * says which key rule failed (a key of the wrong JSON type is INVALID_REQUEST); INVALID_EXPIRES_IN
 * states the configured limit (SIGNED_URL_MAX_TTL_SECONDS, not the schema's 7-day bound).
 */
export function validationProblem (issues: ValidationIssue[], context: string, maxTtlSeconds: number): HttpProblem {
  const issue = issues[0] as ValidationIssue
  const field = issue.instancePath.replace(/^\//, '').replaceAll('/', '.')
  const where = field === '' ? context : `${context}.${field}`
  if (issue.keyword === 'required') {
    // A missing field whose schema names a code of its own (e.g. uploadToken: INVALID_UPLOAD_TOKEN) answers
    // that code; a missing key, like a key of the wrong JSON type, is no key at all: INVALID_REQUEST.
    const properties = issue.parentSchema?.properties as Record<string, Record<string, unknown>> | undefined
    const own = properties?.[String(issue.params.missingProperty)]?.[ERROR_CODE_KEYWORD] as ProblemCode | undefined
    if (own !== undefined && own !== 'INVALID_KEY' && problemEntry(own).fixed !== true) return new HttpProblem(own, `${where} ${describeIssue(issue)}.`)
  }
  const code = issue.parentSchema?.[ERROR_CODE_KEYWORD] as ProblemCode | undefined
  // A key that is not even a string is no key at all: INVALID_REQUEST, like any other wrong JSON type.
  if (code === 'INVALID_KEY' && typeof issue.data === 'string') {
    return new HttpProblem(code, `${where} ${objectKeyFault(issue.data) ?? 'is not a valid object key'}: ${OBJECT_KEY_RULES}.`)
  }
  if (code !== undefined && code !== 'INVALID_KEY') {
    if (code === 'INVALID_EXPIRES_IN' && issue.keyword === 'maximum') {
      return new HttpProblem(code, `${where} must be at most ${maxTtlSeconds} seconds (SIGNED_URL_MAX_TTL_SECONDS).`)
    }
    return new HttpProblem(code, `${where} ${describeIssue(issue)}.`)
  }
  return new HttpProblem('INVALID_REQUEST', `${where} ${describeIssue(issue)}.`)
}
