import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { HttpProblem, PROBLEM_CONTENT_TYPE } from './problem.js'

/**
 * Node's HTTP parser refuses some requests before Fastify sees them (server 'clientError'). Fastify's
 * default answers plain JSON; headers over Node's limit (`maxHeaderSize`, 16 KiB: e.g. a huge
 * Authorization) get a problem+json 431 here like every other error. The socket is closed: the
 * parser cannot go on reading that connection. Timeouts (408) and malformed requests (400) keep
 * Node's bare answers, as Fastify sends them.
 */
export function clientErrorHandler (this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  // A reset connection has nobody to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  let status: number
  let body: string
  let contentType = 'application/json'
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    const problem = new HttpProblem('REQUEST_HEADER_FIELDS_TOO_LARGE')
    status = problem.statusCode
    body = JSON.stringify(problem.toBody())
    contentType = PROBLEM_CONTENT_TYPE
  } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408
    body = '{"error":"Request Timeout","message":"Client Timeout","statusCode":408}'
  } else {
    status = 400
    body = '{"error":"Bad Request","message":"Client Error","statusCode":400}'
  }
  this.log.debug({ code: error.code, status }, 'client error answered by the HTTP parser')
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy(error)
}
