import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { listenLocal } from './ports.js'

/** One request the stub received, as r2-signer sent it. */
export interface ReceivedCheck {
  /** The request path: /check for single checks, /batch for the batch endpoint. */
  path: string
  authorization: string | undefined
  contentType: string | undefined
  body: unknown
}

export type StubHandler = (check: ReceivedCheck, res: ServerResponse) => void

/** Answers every check with 200 {"allowed": true}. */
export const allowAll: StubHandler = (_check, res) => json(res, 200, { allowed: true })

export function json (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body))
}

/**
 * A real HTTP permission service whose answer each test sets: lets the tests drive
 * every row of the permission contract (including hangs and garbage) over real HTTP.
 */
export async function startPermissionStub (handler: StubHandler = allowAll) {
  const received: ReceivedCheck[] = []
  let current = handler
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      let body: unknown
      try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch { body = undefined }
      const check = { path: (req.url ?? '').split('?')[0] as string, authorization: req.headers.authorization, contentType: req.headers['content-type'], body }
      received.push(check)
      current(check, res)
    })
  })
  const { port, close } = await listenLocal(server)
  return {
    url: `http://127.0.0.1:${port}/check`,
    /** The same stub as a batch endpoint (PERMISSIONS_BATCH_URL): its handler sees `path` '/batch'. */
    batchUrl: `http://127.0.0.1:${port}/batch`,
    received,
    respond (next: StubHandler) { current = next },
    close
  }
}

export type PermissionStub = Awaited<ReturnType<typeof startPermissionStub>>
