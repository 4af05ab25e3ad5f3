import type { FastifyInstance } from 'fastify'
import FindMyWay, { type HTTPVersion } from 'find-my-way'

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const

/**
 * The methods each path has, for 405 answers: a second router (the one Fastify uses, find-my-way)
 * that learns every route as it is added, matching concrete paths the way Fastify does. OPTIONS is
 * not listed: with CORS on, @fastify/cors' catch-all OPTIONS route answers it.
 */
export function allowedMethodsRouter (app: FastifyInstance): { allowedMethods: (path: string) => string[] } {
  const router = FindMyWay<HTTPVersion.V1>()
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    for (const method of methods) {
      if (!(METHODS as readonly string[]).includes(method)) continue
      if (router.hasRoute(method as typeof METHODS[number], route.url)) continue
      router.on(method as typeof METHODS[number], route.url, () => {})
    }
  })
  return {
    allowedMethods: (path) => METHODS.filter((method) => router.find(method, path) !== null)
  }
}
