import type { Test } from 'tap'
import { build, type TestApp } from './app.js'
import { createTestBucket, testStorage } from './storage.js'
import type { StubHandler } from './permission-stub.js'
import { headerProxy, type HeaderProxy } from './header-proxy.js'

export interface StorageAppOptions {
  permissions?: StubHandler
  env?: Record<string, string>
  /**
   * true: the app talks to Ceph RGW directly, which honours unsigned x-amz-* headers (the self-test
   * finds it unsafe). Default: through the header-enforcing proxy, which makes it a safe store.
   */
  rawStorage?: boolean
}

/**
 * The app wired to the real test S3 server, with a fresh bucket (and a second allowed one), the
 * storage self-test on, and by default the header-enforcing proxy in front of Ceph (`storageEndpoint`).
 */
export async function buildWithStorage (t: Test, options: StorageAppOptions = {}): Promise<TestApp & { bucket: string, otherBucket: string, storageEndpoint: string, proxy?: HeaderProxy }> {
  const storage = testStorage()
  const [bucket, otherBucket] = await Promise.all([createTestBucket('signer'), createTestBucket('signer-other')])
  const proxy = options.rawStorage === true ? undefined : await headerProxy(t, storage.endpoint)
  const storageEndpoint = proxy?.endpoint ?? storage.endpoint
  const app = await build(t, {
    permissions: options.permissions,
    storageSelfTest: true,
    env: {
      S3_ENDPOINT: storageEndpoint,
      S3_REGION: storage.region,
      S3_ACCESS_KEY_ID: storage.accessKeyId,
      S3_SECRET_ACCESS_KEY: storage.secretAccessKey,
      S3_BUCKET: bucket,
      S3_ALLOWED_BUCKETS: otherBucket,
      ...options.env
    }
  })
  // Object.assign keeps the `logs` getter live (a spread would freeze it).
  return Object.assign(app, { bucket, otherBucket, storageEndpoint, ...(proxy !== undefined && { proxy }) })
}

/** POSTs to a signing route as `sub` and returns the parsed 200 answer (fails the test otherwise). */
export async function signUrl (t: Test, app: TestApp, route: 'download-urls' | 'upload-urls', body: object, token: string): Promise<{ url: string, method: string, headers: Record<string, string>, expiresAt: string, key: string, bucket: string }> {
  const response = await app.post(`/v1/${route}`, body, { authorization: `Bearer ${token}` })
  const json = await response.json() as { url: string, method: string, headers: Record<string, string>, expiresAt: string, key: string, bucket: string }
  t.equal(response.status, 200, `${route} answers 200 for ${JSON.stringify(body).slice(0, 100)}`)
  return json
}
