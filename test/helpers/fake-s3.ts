import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { listenLocal } from './ports.js'

/**
 * A scripted S3 endpoint for the multipart control plane: it does not check signatures or keep
 * state, it answers what the test tells it to, so the tests can play every failure a real store
 * (R2, S3, RGW) can give: error codes, 5xx, garbage, hangs.
 */
export type MultipartOperation = 'CreateMultipartUpload' | 'ListParts' | 'CompleteMultipartUpload' | 'AbortMultipartUpload' | 'other'

export interface FakeS3Request {
  operation: MultipartOperation
  method: string
  /** Path without the query, still percent-encoded. */
  path: string
  query: URLSearchParams
  headers: IncomingMessage['headers']
  body: string
}

export type FakeS3Handler = (request: FakeS3Request, res: ServerResponse) => void

const XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
const NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'

export function xml (res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': 'fake-request-id' }).end(XML_HEAD + body)
}

export function s3Error (res: ServerResponse, status: number, code: string, message = ''): void {
  xml(res, status, `<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fake-request-id</RequestId></Error>`)
}

/** Successful answers to each operation, with the given upload ID and parts. */
export function succeed (uploadId = '2~fakeUploadId', parts: Array<{ partNumber: number, etag: string, size: number }> = []): FakeS3Handler {
  return (request, res) => {
    switch (request.operation) {
      case 'CreateMultipartUpload':
        return xml(res, 200, `<InitiateMultipartUploadResult ${NS}><Bucket>b</Bucket><Key>k</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`)
      case 'ListParts':
        return xml(res, 200, listPartsXml(parts, false))
      case 'CompleteMultipartUpload':
        return xml(res, 200, `<CompleteMultipartUploadResult ${NS}><Bucket>b</Bucket><Key>k</Key><ETag>"3858f62230ac3c915f300c664312c11f-2"</ETag></CompleteMultipartUploadResult>`)
      case 'AbortMultipartUpload':
        return void res.writeHead(204).end()
      default:
        return s3Error(res, 501, 'NotImplemented')
    }
  }
}

export function listPartsXml (parts: Array<{ partNumber: number, etag: string, size: number }>, truncated: boolean, nextMarker?: number): string {
  return `<ListPartsResult ${NS}><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId>` +
    `<IsTruncated>${String(truncated)}</IsTruncated>${nextMarker === undefined ? '' : `<NextPartNumberMarker>${nextMarker}</NextPartNumberMarker>`}` +
    parts.map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${p.etag.replaceAll('"', '&quot;')}</ETag><Size>${p.size}</Size></Part>`).join('') +
    '</ListPartsResult>'
}

export async function startFakeS3 (handler: FakeS3Handler = succeed()) {
  const requests: FakeS3Request[] = []
  let current = handler
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const url = req.url ?? '/'
      const q = url.indexOf('?')
      const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1))
      const method = req.method ?? 'GET'
      const operation: MultipartOperation = query.has('uploads') && method === 'POST'
        ? 'CreateMultipartUpload'
        : !query.has('uploadId') ? 'other' : method === 'GET' ? 'ListParts' : method === 'POST' ? 'CompleteMultipartUpload' : method === 'DELETE' ? 'AbortMultipartUpload' : 'other'
      const request = { operation, method, path: q < 0 ? url : url.slice(0, q), query, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }
      requests.push(request)
      current(request, res)
    })
  })
  const { port, close } = await listenLocal(server)
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    respond (next: FakeS3Handler) { current = next },
    close
  }
}

export type FakeS3 = Awaited<ReturnType<typeof startFakeS3>>
