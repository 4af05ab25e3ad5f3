/**
 * A header-enforcing reverse proxy for the test storage: the rule AWS S3 applies and Ceph RGW 16
 * does not. A presigned request (X-Amz-SignedHeaders in the query) carrying an `x-amz-*` header
 * the URL did not sign is answered 403 AccessDenied, as S3 does; everything else goes to the
 * upstream unchanged (method, path, query, headers with Host preserved so SigV4 still verifies,
 * streamed bodies both ways). docs/storage-safety.md shows the same rule for nginx.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'

export interface HeaderProxy {
  /** http://127.0.0.1:PORT: use it as S3_ENDPOINT. */
  endpoint: string
  /** Requests answered 403 by the proxy itself. */
  refused: number
  /** false: forward everything, as if the proxy were not there (a store that turns unsafe). Default true. */
  enforce: boolean
  close: () => Promise<void>
}

/** The x-amz-* headers of a presigned request that its X-Amz-SignedHeaders does not list ([] for other requests). */
export function unsignedAmzHeaders (url: string, headerNames: readonly string[]): string[] {
  const q = url.indexOf('?')
  if (q < 0) return []
  let signed: string | null
  try {
    signed = new URLSearchParams(url.slice(q + 1)).get('X-Amz-SignedHeaders')
  } catch {
    return []
  }
  if (signed === null) return []
  const names = new Set(signed.toLowerCase().split(';'))
  return headerNames.map((name) => name.toLowerCase()).filter((name) => name.startsWith('x-amz-') && !names.has(name))
}

function refuse (res: ServerResponse, unsigned: string[]): void {
  const body = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>' +
    '<Message>There were headers present in the request which were not signed</Message>' +
    `<HeadersNotSigned>${unsigned.join(', ')}</HeadersNotSigned></Error>`
  res.writeHead(403, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body)
}

export async function startHeaderProxy (upstream: string): Promise<HeaderProxy> {
  const target = new URL(upstream)
  const state = { refused: 0, enforce: true }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/'
    const unsigned = state.enforce ? unsignedAmzHeaders(url, Object.keys(req.headers)) : []
    if (unsigned.length > 0) {
      state.refused++
      req.resume()
      return refuse(res, unsigned)
    }
    // rawHeaders keeps names, order and repeats as sent; Expect is answered by this server already.
    const headers: string[] = []
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if ((req.rawHeaders[i] as string).toLowerCase() !== 'expect') headers.push(req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string)
    }
    const forward = httpRequest({ hostname: target.hostname, port: target.port, method: req.method, path: url, headers, setHost: false }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.rawHeaders)
      answer.pipe(res)
    })
    forward.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end()
      else res.destroy()
    })
    req.pipe(forward)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get refused () { return state.refused },
    get enforce () { return state.enforce },
    set enforce (value: boolean) { state.enforce = value },
    async close () {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** A proxy in front of `upstream` for the duration of the test. */
export async function headerProxy (t: Test, upstream: string): Promise<HeaderProxy> {
  const proxy = await startHeaderProxy(upstream)
  t.teardown(() => proxy.close())
  return proxy
}
