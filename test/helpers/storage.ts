/**
 * The real S3 server for tests, provided by test/storage/before.ts (a throwaway Ceph RGW, or
 * the external TEST_S3_ENDPOINT). There is deliberately no fallback: without it tests fail.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { randomBytes } from 'node:crypto'
import { readState, STATE_FILE, type StorageConfig } from '../storage/state.js'

export type { StorageConfig }

export function testStorage (): StorageConfig {
  const state = readState()
  if (!state) {
    throw new Error(
      `No test S3 server: ${STATE_FILE} does not exist. It is written by tap's "before" script ` +
        '(test/storage/before.ts), so run tests through tap (`npm test`, `npx tap test/x.test.ts`), ' +
        'not with node/tsx directly.'
    )
  }
  const { endpoint, region, accessKeyId, secretAccessKey } = state
  return { endpoint, region, accessKeyId, secretAccessKey }
}

/** An S3 client for the test server. Pass other credentials to test rejected signatures. */
export function s3Client (credentials?: { accessKeyId: string; secretAccessKey: string }): S3Client {
  const { endpoint, region, accessKeyId, secretAccessKey } = testStorage()
  return new S3Client({
    endpoint,
    region,
    forcePathStyle: true,
    credentials: credentials ?? { accessKeyId, secretAccessKey },
    // Newer SDKs add CRC32 checksums to every request by default; R2 and RGW don't need them.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED'
  })
}

/** Creates a new, empty bucket with a unique DNS-safe name like `test-3f9a0c1d2e4b` and returns its name. */
export async function createTestBucket (prefix = 'test'): Promise<string> {
  const base = prefix.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48) || 'test'
  const bucket = `${base}-${randomBytes(6).toString('hex')}`
  const s3 = s3Client()
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }))
  } finally {
    s3.destroy()
  }
  return bucket
}
