// Reference permission service: the smallest service that honours r2-signer's contract.
// See README.md beside this file. Run directly: `tsx examples/permission-service/server.ts`.
import { realpathSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import fastifyJwt from '@fastify/jwt'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type, type Static } from 'typebox'
import { ActionSchema, decideWithLimits, loadPolicy, type Limits, type Policy } from './policy.js'

export const CheckBodySchema = Type.Object(
  {
    subject: Type.String({ minLength: 1, maxLength: 1024 }),
    action: ActionSchema,
    bucket: Type.String({ minLength: 1, maxLength: 255 }),
    key: Type.String({ minLength: 1, maxLength: 1024 })
  },
  // Unknown fields are stripped (Fastify's removeAdditional), not rejected, so r2-signer may
  // add fields later without breaking existing permission services.
  { additionalProperties: false }
)

/** The batch form (r2-signer's PERMISSIONS_BATCH_URL): many checks of one caller, answered in order. */
export const BatchCheckBodySchema = Type.Object(
  { checks: Type.Array(CheckBodySchema, { minItems: 1, maxItems: 5000 }) },
  { additionalProperties: false }
)

export interface PermissionServiceOptions {
  policy: Policy
  /** HS256 secret of the users' JWTs. Without it tokens are NOT checked (trusted network only). */
  jwtSecret?: string
  logger?: boolean | object
}

export async function buildPermissionService (opts: PermissionServiceOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? false,
    // Strict contract: `"subject": 42` is a 400, not silently coerced to "42".
    ajv: { customOptions: { coerceTypes: false } }
  }).withTypeProvider<TypeBoxTypeProvider>()

  const { policy, jwtSecret } = opts
  const maxAge = policy.decisionMaxAgeSeconds ?? 0
  // `private`: the decision is about one user's token, so shared caches must not reuse it.
  const decisionCacheControl = maxAge > 0 ? `private, max-age=${maxAge}` : 'no-store'

  if (jwtSecret) {
    await app.register(fastifyJwt, { secret: jwtSecret, verify: { algorithms: ['HS256'] } })
  } else {
    app.log.warn('no JWT secret configured: bearer tokens are NOT verified, body.subject is trusted')
  }

  // Runs before body validation, so an unauthenticated caller learns nothing about the body rules.
  async function authenticate (req: FastifyRequest, reply: FastifyReply) {
    reply.header('cache-control', 'no-store')
    if (!jwtSecret) return
    try {
      const payload = await req.jwtVerify<{ sub?: unknown }>()
      if (typeof payload.sub !== 'string' || payload.sub === '') throw new Error('token has no sub')
    } catch (err) {
      // Every token problem is a 401 (the contract), even the ones @fastify/jwt reports as 400.
      req.log.info({ reason: (err as Error).message }, 'token rejected')
      return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'invalid_token' })
    }
  }

  /** One decision (with the policy's upload limits); a valid token asking about someone else is "not allowed" (r2-signer → 403), not an error (→ 503). */
  function decideFor (req: FastifyRequest, check: Static<typeof CheckBodySchema>): { allowed: boolean, limits?: Limits } {
    const tokenSub = jwtSecret ? (req.user as { sub: string }).sub : undefined
    if (tokenSub !== undefined && tokenSub !== check.subject) {
      req.log.warn({ tokenSub, subject: check.subject }, 'subject does not match token sub')
      return { allowed: false }
    }
    return decideWithLimits(policy, check)
  }

  app.post(
    '/check',
    { schema: { body: CheckBodySchema }, onRequest: authenticate },
    async (req, reply) => {
      const decision = decideFor(req, req.body)
      req.log.info({ ...req.body, ...decision }, 'decision')
      return reply.header('cache-control', decisionCacheControl).send(decision)
    }
  )

  // The same decisions for many checks at once, in order; one Cache-Control for all of them.
  app.post(
    '/batch',
    { schema: { body: BatchCheckBodySchema }, onRequest: authenticate },
    async (req, reply) => {
      const results = req.body.checks.map((check) => decideFor(req, check))
      req.log.info({ checks: results.length, allowed: results.filter((r) => r.allowed).length }, 'batch decision')
      return reply.header('cache-control', decisionCacheControl).send({ results })
    }
  )

  app.get('/healthz', async () => ({ ok: true }))

  return app
}

// --- direct run -------------------------------------------------------------------------------

function isDirectRun (): boolean {
  const entry = process.argv[1]
  if (!entry) return false
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href
  } catch {
    return false
  }
}

async function main (): Promise<void> {
  const policyFile = process.env.POLICY_FILE ?? join(dirname(fileURLToPath(import.meta.url)), 'policy.json')
  const app = await buildPermissionService({
    policy: await loadPolicy(policyFile),
    jwtSecret: process.env.JWT_SECRET || undefined,
    logger: true
  })
  const port = Number(process.env.PORT ?? 8081)
  await app.listen({ port, host: process.env.HOST ?? '127.0.0.1' })
  app.log.info({ policyFile }, 'permission service ready: POST /check, POST /batch')
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void app.close())
  }
}

if (isDirectRun()) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
