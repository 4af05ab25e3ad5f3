import { spawn, type ChildProcessByStdio } from 'node:child_process'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface ServerProcessOptions {
  /** The server's environment: nothing else reaches it but the `inheritEnv` variables (which `env` may override). */
  env: Record<string, string | undefined>
  /** Node's arguments; by default the production entry point through tsx: `--import=tsx src/server.ts`. */
  args?: string[]
  /** The working directory; by default the repository root. */
  cwd?: string
  /** Variables copied from this process's environment when set; PATH and HOME by default. */
  inheritEnv?: readonly string[]
  /** SIGKILL the process if it is still running after this long (a hung server must not hang the test). */
  killAfterMs?: number
  /** Resolve `listening` with undefined if the server has not listened after this long (the process is left running). */
  listenTimeoutMs?: number
}

export interface ServerExit {
  code: number | null
  signal: NodeJS.Signals | null
  /** performance.now() when the process exited. */
  at: number
}

export interface ServerProcess {
  child: ChildProcessByStdio<null, Readable, Readable>
  /** Everything written to stdout so far. */
  stdout: () => string
  /** Everything written to stderr so far. */
  stderr: () => string
  exited: Promise<ServerExit>
  /** The "Server listening at …" URL from pino's JSON stdout, or undefined if the process exits (or listenTimeoutMs passes) first. */
  listening: Promise<string | undefined>
  /** Sends `signal` (SIGTERM by default) unless the process has already exited, then awaits its exit. */
  stop: (signal?: NodeJS.Signals) => Promise<ServerExit>
}

const LISTENING = /^Server listening at (http:\/\/\S+)$/

/** Runs the server as production does (configuration from the environment only), as a child process. */
export function startServerProcess (options: ServerProcessOptions): ServerProcess {
  const { args = ['--import=tsx', 'src/server.ts'], cwd = ROOT, inheritEnv = ['PATH', 'HOME'] } = options
  const inherited = Object.fromEntries(inheritEnv.map((name) => [name, process.env[name]]))
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...inherited, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })

  const exited = new Promise<ServerExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() }))
  })
  const running = () => child.exitCode === null && child.signalCode === null
  if (options.killAfterMs !== undefined) {
    const guard = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs)
    void exited.then(() => clearTimeout(guard))
  }

  let stdout = ''
  let stderr = ''
  let listened: (url: string | undefined) => void = () => {}
  const listening = new Promise<string | undefined>((resolve) => { listened = resolve })
  let scanned = 0 // stdout before this offset holds only complete lines already looked at
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
    for (let end = stdout.indexOf('\n', scanned); end !== -1; end = stdout.indexOf('\n', scanned)) {
      const line = stdout.slice(scanned, end)
      scanned = end + 1
      if (!line.startsWith('{')) continue
      try {
        const match = LISTENING.exec(String((JSON.parse(line) as { msg?: unknown }).msg ?? ''))
        if (match !== null) listened(match[1])
      } catch { /* not JSON */ }
    }
  })
  void exited.then(() => listened(undefined))
  if (options.listenTimeoutMs !== undefined) {
    const timer = setTimeout(() => listened(undefined), options.listenTimeoutMs)
    void Promise.race([listening, exited]).then(() => clearTimeout(timer))
  }

  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    listening,
    stop: async (signal = 'SIGTERM') => {
      if (running()) child.kill(signal)
      return await exited
    }
  }
}
