/**
 * The running dev server's signing setup, so `npm run token -- bob` can mint tokens it accepts:
 * written when `npm run dev` starts (owner-only, in the git- and docker-ignored .dev-data/) and
 * removed when it stops. Only dev mode does this; the dev JWT secret is random per run unless
 * JWT_SECRET is set. DEV_SESSION_FILE moves the file (the tests use their own).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createSigner } from 'fast-jwt'

export interface DevSession {
  /** The dev server's pid: a file left by a server that is gone is recognised as stale. */
  pid: number
  signerUrl: string
  jwtSecret: string
  issuer?: string
  audience?: string
}

/** Lifetime of dev tokens: a working day. */
const DEV_TOKEN_TTL = '12h'

export const sessionFile = (env: NodeJS.ProcessEnv): string =>
  env.DEV_SESSION_FILE || fileURLToPath(new URL('../.dev-data/dev-session.json', import.meta.url))

export function writeSession (file: string, session: DevSession): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  writeFileSync(file, JSON.stringify(session) + '\n', { mode: 0o600 })
}

/** Removes the file if it is still this process's (another dev server may have started since). */
export function removeSession (file: string): void {
  try {
    if ((JSON.parse(readFileSync(file, 'utf8')) as DevSession).pid === process.pid) rmSync(file)
  } catch { /* already gone or unreadable: nothing of ours to remove */ }
}

/** The session of a running dev server, or undefined when there is none. */
export function readSession (file: string): DevSession | undefined {
  let session: DevSession
  try {
    session = JSON.parse(readFileSync(file, 'utf8')) as DevSession
  } catch {
    return undefined
  }
  try {
    process.kill(session.pid, 0)
  } catch (error) {
    if ((error as { code?: string }).code === 'ESRCH') return undefined // the server that wrote it is gone
  }
  return session
}

/** An HS256 token for `subject` that the dev server accepts (with its issuer and audience, when it enforces them). */
export function mintToken (session: Pick<DevSession, 'jwtSecret' | 'issuer' | 'audience'>, subject: string): string {
  const sign = createSigner({
    key: session.jwtSecret,
    algorithm: 'HS256',
    expiresIn: DEV_TOKEN_TTL,
    ...(session.issuer !== undefined && { iss: session.issuer }),
    ...(session.audience !== undefined && { aud: session.audience })
  })
  return sign({ sub: subject })
}
