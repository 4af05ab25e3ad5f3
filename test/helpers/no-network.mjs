// Preload (`node --import`) for processes that must work offline: every outgoing TCP
// connection fails as if the network were unreachable, and its target is appended to
// the file named by NO_NETWORK_LOG so that the test can assert there was none.
import { appendFileSync } from 'node:fs'
import net from 'node:net'

const log = process.env.NO_NETWORK_LOG
const connect = net.Socket.prototype.connect

net.Socket.prototype.connect = function (...args) {
  const options = typeof args[0] === 'object' && args[0] !== null ? args[0] : { port: args[0], host: args[1] }
  if (options.path !== undefined) return connect.apply(this, args) // local IPC, not the network
  if (log) appendFileSync(log, `${options.host ?? 'localhost'}:${options.port}\n`)
  const error = Object.assign(new Error('network disabled (test/helpers/no-network.mjs)'), { code: 'ENETUNREACH' })
  process.nextTick(() => this.destroy(error))
  return this
}
