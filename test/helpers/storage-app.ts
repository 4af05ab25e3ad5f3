import type { Test } from 'tap'
import { build, type TestApp } from './app.js'
import { createTestBucket, testStorage } from './storage.js'
import type { StubHandler } from './permission-stub.js'

/** The app wired to the real test S3 server, with a fresh bucket (and a second allowed one). */
export async function buildWithStorage (t: Test, options: { permissions?: StubHandler, env?: Record<string, string> } = {}): Promise<TestApp & { bucket: string, otherBucket: string }> {
  const storage = testStorage()
  const [bucket, otherBucket] = await Promise.all([createTestBucket('signer'), createTestBucket('signer-other')])
  const app = await build(t, {
    permissions: options.permissions,
    env: {
      S3_ENDPOINT: storage.endpoint,
      S3_REGION: storage.region,
      S3_ACCESS_KEY_ID: storage.accessKeyId,
      S3_SECRET_ACCESS_KEY: storage.secretAccessKey,
      S3_BUCKET: bucket,
      S3_ALLOWED_BUCKETS: otherBucket,
      ...options.env
    }
  })
  // Object.assign keeps the `logs` getter live (a spread would freeze it).
  return Object.assign(app, { bucket, otherBucket })
}

/** POSTs to a signing route as `sub` and returns the parsed 200 answer (fails the test otherwise). */
export async function signUrl (t: Test, app: TestApp, route: 'download-urls' | 'upload-urls', body: object, token: string): Promise<{ url: string, method: string, headers: Record<string, string>, expiresAt: string, key: string, bucket: string }> {
  const response = await app.post(`/v1/${route}`, body, { authorization: `Bearer ${token}` })
  const json = await response.json() as { url: string, method: string, headers: Record<string, string>, expiresAt: string, key: string, bucket: string }
  t.equal(response.status, 200, `${route} answers 200 for ${JSON.stringify(body).slice(0, 100)}`)
  return json
}
