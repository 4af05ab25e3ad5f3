import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply } from 'fastify'
import { HttpProblem, PROBLEM_CONTENT_TYPE } from './problem.js'
import { problemEntry, type ProblemCode } from './problem-catalogue.js'
import { ERROR_CODE_KEYWORD } from './ajv.js'

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

export interface ValidationIssue {
  instancePath: string
  keyword: string
  message?: string
  params: Record<string, unknown>
  /** The schema holding the failed keyword (Ajv's `verbose` option, src/http/ajv.ts). */
  parentSchema?: Record<string, unknown>
}

function toProblem (error: FastifyError): HttpProblem {
  if (error instanceof HttpProblem) return error
  if (Array.isArray(error.validation)) return validationProblem(error.validation as ValidationIssue[], error.validationContext ?? 'body')
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
 * Names the offending field. A schema may carry its own problem code (`errorCode`, e.g. the
 * object key's INVALID_KEY) since clients branch on it: a code with a fixed detail (it states
 * the value's rules) is answered with that detail, and not for a value of the wrong JSON type,
 * which is INVALID_REQUEST; any other code says what is wrong with the field.
 */
export function validationProblem (issues: ValidationIssue[], context: string): HttpProblem {
  const issue = issues[0] as ValidationIssue
  const field = issue.instancePath.replace(/^\//, '').replaceAll('/', '.')
  const what = issue.keyword === 'additionalProperties'
    ? `must not have the property "${String(issue.params.additionalProperty)}"`
    : issue.keyword === 'format' ? `must be a valid ${String(issue.params.format)}` : issue.message ?? 'is invalid'
  if (issue.keyword === 'required') {
    // A missing field whose schema names a code of its own (with a detail of its own) answers that code.
    const missing = String(issue.params.missingProperty)
    const properties = issue.parentSchema?.properties as Record<string, Record<string, unknown>> | undefined
    const own = properties?.[missing]?.[ERROR_CODE_KEYWORD] as ProblemCode | undefined
    if (own !== undefined && problemEntry(own).fixed !== true) return new HttpProblem(own, `${context} must have required property '${missing}'.`)
  }
  const code = issue.parentSchema?.[ERROR_CODE_KEYWORD] as ProblemCode | undefined
  if (code !== undefined) {
    if (problemEntry(code).fixed !== true) return new HttpProblem(code, `${field} ${issue.message ?? 'is invalid'}.`)
    if (issue.keyword !== 'type') return new HttpProblem(code)
  }
  const where = field === '' ? context : `${context}.${field}`
  return new HttpProblem('INVALID_REQUEST', `${where} ${what}.`)
}
