/**
 * A short, loggable identifier for a failed outgoing request: the error's own code
 * (ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT…), else its cause's, else its name. Never a
 * message, which may quote URLs or bodies.
 */
export function errorCode (error: unknown): string {
  const { code, cause, name } = error as { code?: unknown, cause?: { code?: unknown }, name?: unknown }
  if (typeof code === 'string') return code
  if (typeof cause?.code === 'string') return cause.code
  return typeof name === 'string' ? name : 'unknown'
}
