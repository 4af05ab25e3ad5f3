/**
 * Dev mode's log output: pino's JSON lines (already scrubbed of secrets by src/logging.ts)
 * pretty-printed for a person, minus the docs page's static assets (swagger UI's scripts,
 * styles and images), whose request lines would bury the banner's token and commands.
 */
import type { DestinationStream } from 'pino'
import { prettyFactory } from 'pino-pretty'
import { DOCS_PREFIX } from '../src/openapi/plugin.js'

/** A successful GET of the docs page or one of its assets. */
export function isStaticAssetRequest (line: Record<string, unknown>): boolean {
  const { route, method, status } = line
  return typeof route === 'string' && (route === DOCS_PREFIX || route.startsWith(`${DOCS_PREFIX}/`)) &&
    (method === 'GET' || method === 'HEAD') && typeof status === 'number' && status < 400
}

export function devLogStream (output: NodeJS.WritableStream = process.stdout): DestinationStream {
  const prettify = prettyFactory({
    colorize: 'isTTY' in output && output.isTTY === true,
    ignore: 'pid,hostname',
    translateTime: 'SYS:HH:MM:ss',
    singleLine: true
  })
  return {
    write (line: string) {
      let parsed: Record<string, unknown>
      try {
        parsed = JSON.parse(line) as Record<string, unknown>
      } catch {
        output.write(line) // not pino's JSON: pass it on as it is
        return
      }
      if (!isStaticAssetRequest(parsed)) output.write(prettify(parsed))
    }
  }
}
