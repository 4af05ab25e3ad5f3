/**
 * Dev mode's ports: each comes from a variable (DEV_S3_PORT, DEV_PERMISSIONS_PORT, PORT,
 * DEV_EXAMPLE_PORT), and a bad or taken one stops `npm run dev` with one line naming that
 * variable, instead of a stack trace.
 */

/** A problem the person starting dev mode fixes by changing a variable: printed as one line, no stack. */
export class DevStartError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'DevStartError'
  }
}

/** The port in `env[name]`, or `fallback` when unset or empty; 0 means any free port. */
export function devPort (env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const port = /^\d{1,5}$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN
  if (!(port >= 0 && port <= 65535)) {
    throw new DevStartError(`${name} must be a port number from 0 to 65535 (0: any free port), not ${JSON.stringify(raw.slice(0, 40))}`)
  }
  return port
}

/** Runs `listen`, turning the errors a port choice causes into a DevStartError that names the variable. */
export async function listenOn<T> (name: string, what: string, port: number, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen()
  } catch (error) {
    const code = (error as { code?: unknown }).code
    const reason = code === 'EADDRINUSE'
      ? 'is already in use'
      : code === 'EACCES'
        ? 'needs privileges this user does not have'
        : typeof code === 'string' ? `cannot be listened on (${code})` : undefined
    if (reason === undefined) throw error
    throw new DevStartError(`port ${port} for ${what} ${reason}: set ${name} to another port (0: any free port)`)
  }
}
