/**
 * The whole example, as `npm run dev` runs it but on the real test S3 server (Ceph RGW): a fresh
 * bucket with the browser CORS rule applied by examples/media-app/apply-cors.ts, the reference
 * permission service with the dev policy, r2-signer, and the media-app backend, each on its own
 * 127.0.0.1 port (so the page, r2-signer and storage are three different origins).
 */
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { buildPermissionService } from '../../examples/permission-service/server.js'
import { loadPolicy } from '../../examples/permission-service/policy.js'
import { buildMediaApp, type MediaAppOptions } from '../../examples/media-app/server.js'
import { applyCors } from '../../examples/media-app/apply-cors.js'
import { createTestBucket, testStorage } from './storage.js'
import { startHeaderProxy } from './header-proxy.js'

export interface MediaStack {
  bucket: string
  /** The page's origin, e.g. http://127.0.0.1:40123 */
  appUrl: string
  signerUrl: string
  permissionsUrl: string
  /** Origin of the S3 endpoint, where every byte must come from. */
  storageOrigin: string
  corsRules: unknown[]
  signer: FastifyInstance
  /** The HS256 secret r2-signer trusts: lets a test act as a user against r2-signer directly. */
  jwtSecret: string
}

export async function startMediaStack (t: Test, media: Partial<Omit<MediaAppOptions, 'signerUrl' | 'jwtSecret'>> = {}): Promise<MediaStack> {
  const storage = testStorage()
  const bucket = await createTestBucket('browser')
  const jwtSecret = randomBytes(32).toString('hex')
  const host = '127.0.0.1'
  const closers: Array<() => Promise<unknown>> = []
  t.teardown(async () => { for (const close of closers.reverse()) await close() })

  const policyFile = fileURLToPath(new URL('../../examples/permission-service/policy.json', import.meta.url))
  const permissions = await buildPermissionService({ policy: await loadPolicy(policyFile), jwtSecret, logger: false })
  closers.push(() => permissions.close())
  const permissionsUrl = (await permissions.listen({ host, port: 0 })) + '/check'

  // Ceph behind the header-enforcing proxy: a store that passes the storage self-test.
  const proxy = await startHeaderProxy(storage.endpoint)
  closers.push(() => proxy.close())
  const signer = await buildApp({
    env: {
      LOG_LEVEL: 'warn',
      S3_ENDPOINT: proxy.endpoint,
      S3_REGION: storage.region,
      S3_ACCESS_KEY_ID: storage.accessKeyId,
      S3_SECRET_ACCESS_KEY: storage.secretAccessKey,
      S3_BUCKET: bucket,
      JWT_SECRET: jwtSecret,
      PERMISSIONS_URL: permissionsUrl
    },
    logStream: new Writable({ write (_chunk, _encoding, done) { done() } })
  })
  closers.push(() => signer.close())
  const signerUrl = await signer.listen({ host, port: 0 })

  const app = await buildMediaApp({ ...media, signerUrl, jwtSecret })
  closers.push(() => app.close())
  const appUrl = await app.listen({ host, port: 0 })

  const corsRules = await applyCors({ ...storage, bucket }, [appUrl])
  return { bucket, appUrl, signerUrl, permissionsUrl, storageOrigin: new URL(proxy.endpoint).origin, corsRules, signer, jwtSecret }
}
