import { Problem } from '../../schemas/common.js'

/** Route schema parts every /v1 operation shares (cf. supabase/storage's route helpers). */
export const bearerAuth = [{ bearerAuth: [] }]

/** Problem responses for the given statuses, served as application/problem+json. */
export function problemResponses<const S extends number> (...statuses: S[]) {
  return Object.fromEntries(statuses.map((status) => [status, {
    description: 'Problem details',
    content: { 'application/problem+json': { schema: Problem } }
  }])) as Record<S, { description: string, content: { 'application/problem+json': { schema: typeof Problem } } }>
}

/** The statuses any signing route can answer besides its success. */
export const SIGNING_ERRORS = [400, 401, 403, 413, 415, 503] as const

