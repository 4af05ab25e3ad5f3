import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { buildApp } from '../../src/app.js'
import type { RawEnv } from '../../src/config/config.js'
import { startPermissionStub, type PermissionStub, type StubHandler } from './permission-stub.js'
import { TEST_JWT_SECRET } from './tokens.js'

/** Storage settings for apps that never reach storage (signing makes no storage call). */
export const OFFLINE_STORAGE_ENV = {
  S3_ENDPOINT: 'http://127.0.0.1:9',
  S3_ACCESS_KEY_ID: 'test-access-key',
  S3_SECRET_ACCESS_KEY: 'test-secret-key-that-must-never-be-logged',
  S3_BUCKET: 'media'
}

export interface TestApp {
  app: FastifyInstance
  /** Base URL of the app listening on 127.0.0.1 (tests use real HTTP). */
  url: string
  permissions: PermissionStub
  /** Every log line the app wrote, parsed. */
  logs: Array<Record<string, unknown>>
  /** The raw log text, for "never appears" assertions. */
  logText: () => string
  post: (path: string, body: unknown, headers?: Record<string, string>) => Promise<Response>
}

/**
 * Builds the app with a real permission-service stub, listening on a real port,
 * closed when the test ends (cf. fastify/demo's test/helper.ts `build(t)`).
 * The storage self-test is off unless `storageSelfTest` is true: these apps' storage is absent
 * (OFFLINE_STORAGE_ENV) or a script (fake S3) that cannot answer it; apps on the real test
 * storage (./storage-app.ts) turn it on, behind the header-enforcing proxy.
 */
export async function build (t: Test, options: { env?: RawEnv, permissions?: StubHandler, storageSelfTest?: boolean } = {}): Promise<TestApp> {
  const permissions = await startPermissionStub(options.permissions)
  const lines: string[] = []
  const logStream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
      done()
    }
  })
  const app = await buildApp({
    env: {
      LOG_LEVEL: 'info',
      ...OFFLINE_STORAGE_ENV,
      JWT_SECRET: TEST_JWT_SECRET,
      PERMISSIONS_URL: permissions.url,
      PERMISSIONS_TIMEOUT_MS: '500',
      ...options.env
    },
    logStream,
    storageSelfTest: options.storageSelfTest ?? false
  })
  t.teardown(async () => {
    await app.close()
    await permissions.close()
  })
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    app,
    url: address,
    permissions,
    get logs () { return lines.map((line) => JSON.parse(line) as Record<string, unknown>) },
    logText: () => lines.join('\n'),
    post: (path, body, headers = {}) => fetch(address + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body)
    })
  }
}
