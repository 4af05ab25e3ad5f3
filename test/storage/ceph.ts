/**
 * A throwaway single-node Ceph cluster serving S3: one monitor, one OSD keeping its data in
 * memory (memstore) and one RADOS Gateway, all on 127.0.0.1.
 *
 * Everything (config, mon store, OSD dir, sockets, logs) lives in one temp run dir; nothing
 * reads or writes /etc/ceph or /var/lib/ceph, because every command gets `-c <run>/ceph.conf`.
 * The daemons run in the foreground (`-f`) but detached (own process group, stdio to files,
 * unref'd), so they outlive the short-lived process that started them; stopCeph() stops them
 * by PID. A CephHandle is plain JSON so it can be saved and stopped from another process.
 */
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3'
import { execFile, spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { closedPort as freePort } from '../helpers/ports.js'
import { isAlive } from './state.js'

export const CEPH_INSTALL_HINT = 'apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd'
/** ceph, radosgw-admin (ceph-common) and monmaptool (ceph-base) come with the three packages above. */
const BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'ceph', 'radosgw-admin', 'monmaptool']

export interface CephOptions {
  /**
   * S3 port for the first radosgw attempt, used as is (not checked first). Default: a free port
   * from the OS. Retries after a failed bind always take a fresh free port from the OS.
   */
  rgwPort?: number
  /** SigV4 region clients must sign with (the zonegroup's api_name). Default 'auto', like R2. */
  region?: string
  /** Give up if the S3 endpoint isn't answering signed requests by then. Default 90 s. */
  timeoutMs?: number
  /** Progress messages. */
  log?: (msg: string) => void
}

interface Daemon {
  name: string
  pid: number
}

export interface CephHandle {
  runDir: string
  endpoint: string
  region: string
  accessKeyId: string
  secretAccessKey: string
  /** In start order; stopCeph stops them in reverse. */
  daemons: Daemon[]
}

export function missingCephBinaries (): string[] {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean)
  return BINARIES.filter(bin => !dirs.some(dir => existsSync(join(dir, bin))))
}

export async function startCeph (opts: CephOptions = {}): Promise<CephHandle> {
  const missing = missingCephBinaries()
  if (missing.length > 0) {
    throw new Error(`Ceph binaries not found on PATH: ${missing.join(', ')}. Install them with \`${CEPH_INSTALL_HINT}\`.`)
  }
  const log = opts.log ?? (() => {})
  const region = opts.region ?? 'auto'
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000)
  const runDir = mkdtempSync(join(tmpdir(), 'r2-signer-ceph-'))
  const conf = join(runDir, 'ceph.conf')
  const daemons: Daemon[] = []
  const ceph = (...args: string[]) => run('ceph', ['-c', conf, ...args])
  const radosgwAdmin = (...args: string[]) => run('radosgw-admin', ['-c', conf, ...args])
  // Poll until check() is true, failing fast if a daemon died meanwhile.
  const waitFor = async (what: string, check: () => Promise<boolean>) => {
    for (;;) {
      const dead = daemons.find(d => !isAlive(d.pid))
      if (dead) throw new DaemonExited(dead, what)
      if (await check().catch(() => false)) return
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await sleep(250)
    }
  }

  try {
    const monPort = await freePort()
    const fsid = randomUUID()
    writeFileSync(conf, cephConf({ runDir, fsid, monPort }))
    log(`ceph: run dir ${runDir}`)

    // Monitor: a one-mon monmap, then its store.
    const monmap = join(runDir, 'monmap')
    await run('monmaptool', ['--create', '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, '--fsid', fsid, monmap])
    await run('ceph-mon', ['-c', conf, '--mkfs', '-i', 'a', '--monmap', monmap])
    daemons.push(startDaemon(runDir, 'mon.a', 'ceph-mon', ['-c', conf, '-i', 'a', '-f']))

    // OSD 0: register it (the ceph CLI waits for the mon), create its store, place it in the CRUSH map.
    const osdUuid = randomUUID()
    await ceph('osd', 'new', osdUuid, '0')
    mkdirSync(join(runDir, 'osd.0'))
    await run('ceph-osd', ['-c', conf, '-i', '0', '--mkfs', '--osd-uuid', osdUuid])
    await ceph('osd', 'crush', 'add', 'osd.0', '1', 'root=default')
    daemons.push(startDaemon(runDir, 'osd.0', 'ceph-osd', ['-c', conf, '-i', '0', '-f']))
    await waitFor('the OSD to be up', async () => JSON.parse(await ceph('osd', 'stat', '-f', 'json')).num_up_osds >= 1)

    // RGW: `user create` also creates the RGW pools and the default zone/zonegroup. RGW rejects
    // CreateBucket (InvalidLocationConstraint) unless the SigV4 region equals the zonegroup's
    // api_name, hence the rename. radosgw reads the zonegroup at startup, so do this first.
    // Keys are hex: radosgw-admin would take a value starting with '-' for an option.
    const accessKeyId = randomBytes(10).toString('hex').toUpperCase()
    const secretAccessKey = randomBytes(20).toString('hex')
    await radosgwAdmin('user', 'create', '--uid', 'tester', '--display-name', 'tester',
      '--access-key', accessKeyId, '--secret-key', secretAccessKey)
    await radosgwAdmin('zonegroup', 'modify', '--rgw-zonegroup', 'default', '--api-name', region)

    // A free port can be taken by someone else (e.g. another checkout's Ceph) before radosgw
    // binds it; radosgw then exits ("failed to bind address ... Address already in use"). Only
    // radosgw is retried, on a fresh port; the mon and OSD keep running.
    for (let attempt = 1; ; attempt++) {
      const rgwPort = attempt === 1 && opts.rgwPort ? opts.rgwPort : await freePort()
      const endpoint = `http://127.0.0.1:${rgwPort}`
      const logFile = join(runDir, `client.rgw.${attempt}.log`)
      const rgw = startDaemon(runDir, 'client.rgw', 'radosgw', ['-c', conf, '-n', 'client.rgw', '-f',
        '--rgw-frontends', `beast endpoint=127.0.0.1:${rgwPort}`, '--log-file', logFile])
      daemons.push(rgw)
      // Ready means a signed request is accepted, not merely that the port is open.
      const s3 = new S3Client({ endpoint, region, forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId, secretAccessKey } })
      try {
        // Each try is bounded: whatever holds the port meanwhile may never answer.
        const listBuckets = () => s3.send(new ListBucketsCommand({}), { abortSignal: AbortSignal.timeout(5000) })
        await waitFor(`a signed ListBuckets on ${endpoint}`, async () => (await listBuckets()).$metadata.httpStatusCode === 200)
        return { runDir, endpoint, region, accessKeyId, secretAccessKey, daemons }
      } catch (err) {
        if (!(err instanceof DaemonExited) || err.daemon !== rgw || attempt >= RGW_ATTEMPTS || !failedToBind(logFile)) throw err
        daemons.pop()
        log(`ceph: radosgw could not bind port ${rgwPort} (taken meanwhile); retrying on another port`)
      } finally {
        s3.destroy()
      }
    }
  } catch (err) {
    const message = `Could not start Ceph: ${(err as Error).message}\n${logTails(runDir)}`
    await stopDaemons(daemons, runDir)
    rmSync(runDir, { recursive: true, force: true })
    throw new Error(message, { cause: err })
  }
}

/** radosgw starts afresh on another port after a failed bind: worth a few tries, not forever. */
const RGW_ATTEMPTS = 4

class DaemonExited extends Error {
  constructor (readonly daemon: Daemon, what: string) {
    super(`${daemon.name} exited while waiting for ${what}`)
  }
}

/** Whether radosgw's log says its frontend could not bind the port. */
function failedToBind (logFile: string): boolean {
  try {
    return /failed to bind address .*Address already in use/.test(readFileSync(logFile, 'utf8'))
  } catch {
    return false
  }
}

export async function stopCeph (handle: CephHandle): Promise<void> {
  await stopDaemons(handle.daemons, handle.runDir)
  rmSync(handle.runDir, { recursive: true, force: true })
}

/** Whether all of the handle's daemons are still running. */
export function cephIsRunning (handle: CephHandle): boolean {
  return handle.daemons.length === 3 && handle.daemons.every(d => isOurs(d.pid, handle.runDir))
}

function cephConf (o: { runDir: string; fsid: string; monPort: number }): string {
  return `[global]
fsid = ${o.fsid}
mon host = [v2:127.0.0.1:${o.monPort}]
# No cephx: the cluster only listens on 127.0.0.1 and lives for one test run.
auth cluster required = none
auth service required = none
auth client required = none
# A single OSD: unreplicated pools, replicas spread over OSDs rather than hosts.
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
# RGW creates ~7 pools; 32 PGs each (the default) gets close to mon_max_pg_per_osd (250).
osd pool default pg num = 8
osd pool default pgp num = 8
# Objects live in the OSD's memory (1 GiB cap by default); nothing to clean up on disk.
osd objectstore = memstore
# Everything under the run dir.
run dir = ${o.runDir}
admin socket = ${o.runDir}/$name.asok
pid file = ${o.runDir}/$name.pid
log file = ${o.runDir}/$name.log
keyring = ${o.runDir}/keyring
mon data = ${o.runDir}/$name
osd data = ${o.runDir}/$name
rgw data = ${o.runDir}/$name

[mon]
# Commit each change at once instead of batching for 1 s: setup makes ~20 sequential mon
# changes (pool creates etc.), which would otherwise take ~10 s more.
paxos propose interval = 0.01
# The mon store is tiny; don't refuse to start on a nearly full CI disk.
mon data avail crit = 0

[client.rgw]
# rgw frontends (the port) is given on radosgw's command line: it changes if a bind fails.
# The mon speaks msgr2, where radosgw defaults to 'secure' mode, which needs cephx:
# without this it retries forever with "get_initial_auth_request returned -13".
ms mon client mode = crc
`
}

/** Runs a setup command, failing with its output if it fails or hangs. */
function run (cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`.trim().split('\n').slice(-30).join('\n')
      if (err) reject(new Error(`\`${cmd} ${args.join(' ')}\` failed (${err.signal ?? `exit ${err.code}`}):\n${output}`))
      else resolve(stdout)
    })
  })
}

function startDaemon (runDir: string, name: string, cmd: string, args: string[]): Daemon {
  const out = openSync(join(runDir, `${name}.out`), 'a')
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', out, out] })
  closeSync(out)
  child.on('error', () => {}) // a failed spawn leaves pid undefined, handled below
  child.unref()
  if (child.pid === undefined) throw new Error(`could not spawn ${cmd}`)
  return { name, pid: child.pid }
}

async function stopDaemons (daemons: Daemon[], runDir: string): Promise<void> {
  // Reverse start order, one at a time: radosgw and the OSD hang in shutdown if the
  // daemons they talk to are already gone.
  for (const { pid } of [...daemons].reverse()) {
    if (!isOurs(pid, runDir)) continue // gone already, or the PID now belongs to someone else
    for (const [signal, waitMs] of [['SIGTERM', 5000], ['SIGKILL', 2000]] as const) {
      try {
        process.kill(pid, signal)
      } catch {
        break
      }
      const until = Date.now() + waitMs
      while (isAlive(pid) && Date.now() < until) await sleep(50)
      if (!isAlive(pid)) break
    }
  }
}

/** Our daemons all have `-c <runDir>/ceph.conf` on their command line. */
function isOurs (pid: number, runDir: string): boolean {
  try {
    return isAlive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`${runDir}/ceph.conf`)
  } catch {
    return false
  }
}

function logTails (runDir: string, lines = 20): string {
  let files: string[] = []
  try {
    files = readdirSync(runDir).filter(f => f.endsWith('.log') || f.endsWith('.out'))
  } catch {
    return ''
  }
  return files
    .map(f => {
      const text = readFileSync(join(runDir, f), 'utf8').trimEnd()
      return text ? `--- ${f} (last ${lines} lines) ---\n${text.split('\n').slice(-lines).join('\n')}` : ''
    })
    .filter(Boolean)
    .join('\n')
}
