/**
 * tap `after` script: runs after all test files. Stops the Ceph cluster and redis-server before.ts started
 * (unless another tap run still uses it) and removes the state file.
 */
import { stopCeph } from './ceph.js'
import { stopRedis } from './redis.js'
import { isAlive, readState, removeState, withStateLock, writeState } from './state.js'

const runner = process.ppid // the tap runner, as in before.ts

try {
  await withStateLock(async () => {
    const state = readState()
    if (!state) return
    const users = state.users.filter(pid => pid !== runner && isAlive(pid))
    if (users.length > 0) {
      writeState({ ...state, users })
      return
    }
    if (state.ceph) await stopCeph(state.ceph)
    if (state.redis) await stopRedis(state.redis)
    removeState()
  })
} catch (err) {
  console.error(`[test storage] FAILED to clean up: ${(err as Error).message}`)
  process.exit(1)
}
