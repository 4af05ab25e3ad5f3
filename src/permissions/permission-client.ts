/**
 * The HTTP client for the permission service (the contract is in the README and
 * examples/permission-service). It fails closed: only a 200 whose JSON body has
 * `allowed === true` is an allow; anything unclear is "unavailable", never "allowed".
 */
export type PermissionAction = 'read' | 'write'

export interface PermissionQuery {
  subject: string
  action: PermissionAction
  bucket: string
  key: string
}

export type PermissionDecision =
  | { outcome: 'allowed' }
  | { outcome: 'denied' }
  | { outcome: 'unauthenticated' }
  | { outcome: 'unavailable', reason: string }

export interface PermissionClientOptions {
  url: string
  timeoutMs: number
}

/** Decisions are a few bytes; anything much larger is not an answer we trust. */
const MAX_RESPONSE_BYTES = 64 * 1024

export function createPermissionClient ({ url, timeoutMs }: PermissionClientOptions) {
  return {
    /** Asks whether `query` is allowed, forwarding the caller's Authorization header verbatim. */
    async check (authorization: string, query: PermissionQuery): Promise<PermissionDecision> {
      const signal = AbortSignal.timeout(timeoutMs)
      let response: Response
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: { authorization, 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify(query),
          // A redirect could carry the user's token elsewhere: treat it as an unclear answer.
          redirect: 'manual',
          signal
        })
      } catch (error) {
        return unavailable(signal.aborted ? 'timeout' : `connection error (${errorCode(error)})`)
      }

      try {
        if (response.status === 401) return { outcome: 'unauthenticated' }
        if (response.status === 403) return { outcome: 'denied' }
        if (response.status !== 200) return unavailable(`status ${response.status}`)
        const allowed = parseAllowed(await readLimited(response))
        if (allowed === undefined) return unavailable('malformed answer')
        return allowed ? { outcome: 'allowed' } : { outcome: 'denied' }
      } catch {
        return unavailable(signal.aborted ? 'timeout' : 'unreadable answer')
      } finally {
        // Release the connection whatever we read of the body.
        await response.body?.cancel().catch(() => {})
      }
    }
  }
}

export type PermissionClient = ReturnType<typeof createPermissionClient>

function unavailable (reason: string): PermissionDecision {
  return { outcome: 'unavailable', reason }
}

function parseAllowed (text: string): boolean | undefined {
  try {
    const body: unknown = JSON.parse(text)
    const allowed = (body as { allowed?: unknown } | null)?.allowed
    return typeof allowed === 'boolean' ? allowed : undefined
  } catch {
    return undefined
  }
}

async function readLimited (response: Response): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? 0)
  if (declared > MAX_RESPONSE_BYTES) throw new Error('answer too large')
  const text = await response.text()
  if (text.length > MAX_RESPONSE_BYTES) throw new Error('answer too large')
  return text
}

function errorCode (error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause
  return cause?.code ?? (error as Error).name ?? 'unknown'
}
