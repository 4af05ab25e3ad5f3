import { S3Client } from '@aws-sdk/client-s3'
import type { StorageConfig } from '../config/config.js'

/** What an S3 client needs of the storage configuration. */
export type S3Connection = Pick<StorageConfig, 'endpoint' | 'region' | 'accessKeyId' | 'secretAccessKey' | 'forcePathStyle'>

/**
 * The one way r2-signer builds an S3 client (multipart control plane, readiness probe):
 * no checksums unless an operation requires them, and every phase of a request bounded.
 */
export function createS3Client (connection: S3Connection, { timeoutMs, maxAttempts }: { timeoutMs: number, maxAttempts: number }): S3Client {
  return new S3Client({
    endpoint: connection.endpoint,
    region: connection.region,
    forcePathStyle: connection.forcePathStyle,
    credentials: { accessKeyId: connection.accessKeyId, secretAccessKey: connection.secretAccessKey },
    // The SDK's default (since 3.729) adds CRC32 checksums to every request; R2 rejects some.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts,
    requestHandler: {
      connectionTimeout: timeoutMs,
      // Without throwOnRequestTimeout the SDK only logs a warning when requestTimeout passes.
      requestTimeout: timeoutMs,
      throwOnRequestTimeout: true,
      socketTimeout: timeoutMs
    }
  })
}
