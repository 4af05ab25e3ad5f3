import fp from 'fastify-plugin'
import { HttpProblem } from './problem.js'

/**
 * The JSON body parser. Fastify's own (secure-json-parse) refuses `__proto__` and
 * `constructor.prototype` keys but reports them as invalid JSON, which they are not: this one
 * parses with JSON.parse (which makes such keys plain own properties, polluting nothing), then
 * refuses them by name. The body limit stays Fastify's.
 */
export default fp(async function jsonBody (app) {
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string
    if (text === '') return done(new HttpProblem('INVALID_REQUEST', 'The JSON body is empty.'))
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      return done(new HttpProblem('INVALID_REQUEST', 'The body is not valid JSON.'))
    }
    const forbidden = mayHoldForbiddenKey(text) ? forbiddenKey(value, 'body') : undefined
    if (forbidden !== undefined) {
      return done(new HttpProblem('INVALID_REQUEST', `${forbidden} is not allowed: a "__proto__" or "constructor.prototype" key could alter objects' prototypes.`))
    }
    done(null, value)
  })
}, { name: 'json-body' })

/**
 * Whether a key of the document could be `__proto__` or `constructor`: only if the text spells one
 * of them, or has a \u escape (the only JSON escape that can make a letter or "_"). Most bodies
 * have neither, and skip walking every object (a batch has a thousand).
 */
function mayHoldForbiddenKey (text: string): boolean {
  return text.includes('__proto__') || text.includes('constructor') || text.includes('\\u')
}

/**
 * Where the first `__proto__` key, or `constructor` key holding `prototype`, is
 * (`body.items.0.__proto__`). Iterative: a deeply nested body must not exhaust the stack.
 */
function forbiddenKey (root: unknown, rootPath: string): string | undefined {
  const pending: Array<[unknown, string]> = [[root, rootPath]]
  while (pending.length > 0) {
    const [value, path] = pending.pop() as [unknown, string]
    if (typeof value !== 'object' || value === null) continue
    for (const [name, item] of Object.entries(value)) {
      if (name === '__proto__') return `${path}.__proto__`
      if (name === 'constructor' && typeof item === 'object' && item !== null && Object.hasOwn(item, 'prototype')) return `${path}.constructor.prototype`
      if (typeof item === 'object' && item !== null) pending.push([item, `${path}.${name}`])
    }
  }
  return undefined
}
