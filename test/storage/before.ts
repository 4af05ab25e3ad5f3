/**
 * tap `before` script: runs to completion before any test file. Provides the S3 server the
 * tests use and records it in the state file (see state.ts):
 *  - TEST_S3_ENDPOINT set: use that endpoint, start nothing;
 *  - otherwise: start a throwaway Ceph RGW (ceph.ts), left running for after.ts to stop.
 * It also starts a throwaway redis-server (redis.ts) for the shared-state tests, in both cases.
 * Any problem exits non-zero, which makes tap fail the run: tests never silently skip.
 */
import { CEPH_INSTALL_HINT, cephIsRunning, missingCephBinaries, startCeph, stopCeph } from './ceph.js'
import { REDIS_INSTALL_HINT, redisIsRunning, redisServerMissing, startRedis, stopRedis, type RedisHandle } from './redis.js'
import { isAlive, readState, STATE_FILE, withStateLock, writeState, type StorageState } from './state.js'

// Both this script and the test files are children of the tap runner.
const runner = process.ppid
const log = (msg: string) => console.error(`[test storage] ${msg}`) // stderr: keep tap's stdout pure TAP

function externalEndpoint (): StorageState | undefined {
  const endpoint = process.env.TEST_S3_ENDPOINT
  if (!endpoint) return undefined
  const { TEST_S3_ACCESS_KEY_ID: accessKeyId, TEST_S3_SECRET_ACCESS_KEY: secretAccessKey } = process.env
  if (!accessKeyId || !secretAccessKey) {
    throw new Error('TEST_S3_ENDPOINT is set, so TEST_S3_ACCESS_KEY_ID and TEST_S3_SECRET_ACCESS_KEY must be set too.')
  }
  return { endpoint, region: process.env.TEST_S3_REGION || 'auto', accessKeyId, secretAccessKey, users: [runner] }
}

async function startTestRedis (): Promise<RedisHandle> {
  const redis = await startRedis()
  log(`redis-server ready at ${redis.url}`)
  return redis
}

try {
  await withStateLock(async () => {
    const wanted = externalEndpoint()
    const old = readState()
    const otherUsers = (old?.users ?? []).filter(pid => pid !== runner && isAlive(pid))

    // Another tap run in this tree is using a server: join it if it's the kind we want.
    if (old && otherUsers.length > 0 && (old.ceph ? cephIsRunning(old.ceph) : true)) {
      if (wanted ? old.endpoint === wanted.endpoint : old.ceph) {
        const redis = old.redis !== undefined && redisIsRunning(old.redis) ? old.redis : await startTestRedis()
        writeState({ ...old, redis, users: [...otherUsers, runner] })
        log(`sharing ${old.endpoint} with the tap run(s) ${otherUsers.join(', ')}`)
        return
      }
      throw new Error(`another tap run (pid ${otherUsers.join(', ')}) is using ${old.endpoint}; wait for it to finish.`)
    }
    // Left over by a run that never got to its after script (e.g. interrupted).
    if (old?.ceph) await stopCeph(old.ceph)
    if (old?.redis) await stopRedis(old.redis)
    if (redisServerMissing()) {
      throw new Error(`The tests need a real Redis, but redis-server is not on PATH. Install it with \`${REDIS_INSTALL_HINT}\`.`)
    }

    if (wanted) {
      writeState({ ...wanted, redis: await startTestRedis() })
      log(`using external S3 endpoint ${wanted.endpoint}`)
      return
    }
    const missing = missingCephBinaries()
    if (missing.length > 0) {
      throw new Error(
        `The tests need an S3 server, but ${missing.join(', ')} not found on PATH. ` +
          `Install Ceph with \`${CEPH_INSTALL_HINT}\`, ` +
          'or point them at one with TEST_S3_ENDPOINT, TEST_S3_ACCESS_KEY_ID, TEST_S3_SECRET_ACCESS_KEY (TEST_S3_REGION, default "auto").'
      )
    }
    const redis = await startTestRedis()
    const started = Date.now()
    let ceph
    try {
      ceph = await startCeph({ log })
    } catch (err) {
      await stopRedis(redis)
      throw err
    }
    const { endpoint, region, accessKeyId, secretAccessKey } = ceph
    writeState({ endpoint, region, accessKeyId, secretAccessKey, ceph, redis, users: [runner] })
    log(`Ceph RGW ready at ${endpoint} in ${((Date.now() - started) / 1000).toFixed(1)} s (state: ${STATE_FILE})`)
  })
} catch (err) {
  console.error(`\n[test storage] FAILED: ${(err as Error).message}\n`)
  process.exit(1)
}
