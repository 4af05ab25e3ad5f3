/**
 * A throwaway redis-server for the tests: 127.0.0.1 only, no persistence (`--save ''`,
 * `--appendonly no`), its own temp dir. Like the Ceph daemons (ceph.ts) it runs detached so it
 * outlives the short-lived process that started it; stopRedis() stops it by PID. A RedisHandle
 * is plain JSON so the state file can carry it from tap's before script to its after script.
 */
import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { closedPort as freePort } from '../helpers/ports.js'
import { isAlive } from './state.js'

export const REDIS_INSTALL_HINT = 'apt-get install -y --no-install-recommends redis-server'

export interface RedisHandle {
  url: string
  port: number
  pid: number
  dir: string
}

export function redisServerMissing (): boolean {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean)
  return !dirs.some((dir) => existsSync(join(dir, 'redis-server')))
}

/**
 * Starts redis-server and waits until it answers PING. `port` reuses a given port (a restart
 * after stopRedis, so that clients configured with the old URL reconnect); any free port otherwise.
 */
export async function startRedis (options: { port?: number, timeoutMs?: number } = {}): Promise<RedisHandle> {
  if (redisServerMissing()) {
    throw new Error(`The tests need a real Redis, but redis-server is not on PATH. Install it with \`${REDIS_INSTALL_HINT}\`.`)
  }
  const port = options.port ?? await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'r2-signer-redis-'))
  const out = openSync(join(dir, 'redis.out'), 'a')
  const child = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--daemonize', 'no', '--protected-mode', 'yes', '--loglevel', 'warning'
  ], { detached: true, stdio: ['ignore', out, out] })
  closeSync(out)
  child.on('error', () => {}) // a failed spawn leaves pid undefined, handled below
  child.unref()
  if (child.pid === undefined) throw new Error('could not spawn redis-server')
  const handle: RedisHandle = { url: `redis://127.0.0.1:${port}`, port, pid: child.pid, dir }
  const deadline = Date.now() + (options.timeoutMs ?? 10_000)
  for (;;) {
    if (!isAlive(handle.pid)) {
      const output = safeRead(join(dir, 'redis.out'))
      rmSync(dir, { recursive: true, force: true })
      throw new Error(`redis-server exited at startup:\n${output}`)
    }
    if (await ping(port)) return handle
    if (Date.now() > deadline) {
      await stopRedis(handle)
      throw new Error(`redis-server did not answer PING on port ${port} in time`)
    }
    await sleep(50)
  }
}

export async function stopRedis (handle: RedisHandle): Promise<void> {
  if (isOurs(handle)) {
    for (const [signal, waitMs] of [['SIGTERM', 5000], ['SIGKILL', 2000]] as const) {
      try {
        process.kill(handle.pid, signal)
      } catch {
        break
      }
      const until = Date.now() + waitMs
      while (isAlive(handle.pid) && Date.now() < until) await sleep(20)
      if (!isAlive(handle.pid)) break
    }
  }
  rmSync(handle.dir, { recursive: true, force: true })
}

export function redisIsRunning (handle: RedisHandle): boolean {
  return isOurs(handle)
}

/**
 * A redis-server on our port (redis-server rewrites its process title to `redis-server 127.0.0.1:PORT`,
 * so the original arguments may be gone); a reused PID is something else.
 */
function isOurs (handle: RedisHandle): boolean {
  try {
    const cmdline = readFileSync(`/proc/${handle.pid}/cmdline`, 'utf8')
    return isAlive(handle.pid) && cmdline.includes('redis-server') && (cmdline.includes(handle.dir) || cmdline.includes(`:${handle.port}`))
  } catch {
    return false
  }
}

/** One inline PING over a raw socket: true on +PONG. */
function ping (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', (data) => done(data.toString('utf8').startsWith('+PONG')))
  })
}

function safeRead (path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-20).join('\n')
  } catch {
    return ''
  }
}
