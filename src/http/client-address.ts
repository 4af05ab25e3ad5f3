import { isIP } from 'node:net'
import type { IncomingHttpHeaders } from 'node:http'

/**
 * The client's address, for per-address limits (failed authentication). Without TRUST_PROXY it
 * is the socket's peer: headers are whatever the client wrote. Behind a trusted proxy (Fly):
 * `Fly-Client-IP`, which Fly's proxy sets itself; else the LAST `X-Forwarded-For` entry, the
 * one our proxy appended (earlier entries come from the client and can be forged). A header
 * that is not an IP address is ignored.
 */
export function clientAddress (headers: IncomingHttpHeaders, socketAddress: string | undefined, trustProxy: boolean): string {
  if (trustProxy) {
    const fly = single(headers['fly-client-ip'])
    if (fly !== undefined && isIP(fly) !== 0) return fly
    const forwarded = headers['x-forwarded-for']
    const entries = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded ?? '').split(',')
    const last = entries[entries.length - 1]?.trim()
    if (last !== undefined && isIP(last) !== 0) return last
  }
  return socketAddress ?? 'unknown'
}

function single (value: string | string[] | undefined): string | undefined {
  return (Array.isArray(value) ? value[value.length - 1] : value)?.trim()
}
