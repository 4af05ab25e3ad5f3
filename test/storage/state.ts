/**
 * The hand-off between tap's `before` script, the test processes and the `after` script:
 * one JSON file at a fixed path under the repo, so all of them agree regardless of cwd.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { CephHandle } from './ceph.js'
import type { RedisHandle } from './redis.js'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const STATE_FILE = join(REPO_ROOT, 'node_modules/.cache/r2-signer-test/storage.json')

export interface StorageConfig {
  endpoint: string
  region: string
  accessKeyId: string
  secretAccessKey: string
}

export interface StorageState extends StorageConfig {
  /** Present when before.ts started a Ceph cluster (absent for an external TEST_S3_ENDPOINT). */
  ceph?: CephHandle
  /** The redis-server before.ts started for the run (shared state tests); after.ts stops it. */
  redis?: RedisHandle
  /**
   * PIDs of the tap runners using this server. Engineers share this tree, so two `tap` runs can
   * overlap: the second one joins the first one's server and the last `after` stops it.
   */
  users: number[]
}

export function readState (): StorageState | undefined {
  try {
    return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as StorageState
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

export function writeState (state: StorageState): void {
  mkdirSync(dirname(STATE_FILE), { recursive: true })
  // write-then-rename so a test process never reads a half-written file
  const tmp = `${STATE_FILE}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 })
  renameSync(tmp, STATE_FILE)
}

export function removeState (): void {
  rmSync(STATE_FILE, { force: true })
}

/** Whether a process exists and is not a zombie (an exited daemon stays a zombie until init reaps it). */
export function isAlive (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

/** Serialises before/after scripts of concurrent tap runs (mkdir is atomic). */
export async function withStateLock<T> (fn: () => Promise<T>): Promise<T> {
  const lock = `${STATE_FILE}.lock`
  mkdirSync(dirname(lock), { recursive: true })
  for (;;) {
    try {
      mkdirSync(lock)
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    // A lock older than startCeph's worst case was left by a killed before/after script.
    let age = 0
    try {
      age = Date.now() - statSync(lock).mtimeMs
    } catch {
      continue // released meanwhile
    }
    if (age > 180_000) rmSync(lock, { recursive: true, force: true })
    else await sleep(200)
  }
  try {
    return await fn()
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}
