/**
 * Test oracle: the AWS SDK's own presigner (`getSignedUrl`), configured so that its output is
 * what our presigner must reproduce byte for byte. Shared by the signing tests and bench/signer.ts.
 *
 * SDK configuration, and why:
 * - `requestChecksumCalculation` / `responseChecksumValidation: 'WHEN_REQUIRED'`: with the
 *   defaults (WHEN_SUPPORTED) the SDK adds `x-amz-checksum-mode=ENABLED` to GetObject and
 *   `x-amz-checksum-crc32=AAAAAA==` (CRC32 of the *empty* body, since there is no body at
 *   presign time) + `x-amz-sdk-checksum-algorithm=CRC32` to PutObject/UploadPart. We must not
 *   emit those (R2 rejects them), so the oracle is told not to either.
 * - `signableHeaders: content-type, content-length, content-md5`: S3RequestPresigner marks
 *   content-type unsignable by default; we want the client bound to the type it declared. For
 *   UploadPart only content-length and content-md5: a part carries no type of its own.
 * - `if-none-match` (PutObject's IfNoneMatch) is an ordinary header: signed without being named.
 * - User agent: nothing to configure. getSignedUrl deletes x-amz-user-agent,
 *   amz-sdk-invocation-id and amz-sdk-request before signing, and `user-agent` is never signed
 *   or hoisted into the query.
 * - Static credentials and an explicit region: no provider chain, no IMDS, no network. (The SDK
 *   would call CreateSession for S3 Express `--x-s3` buckets; our presigner rejects those names.)
 */
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import type { PresignInput, PresignerConfig } from '../../src/signing/presigner.js'

// SDK versions after Jan 2027 want Node >= 22; the warning is noise in test/bench output.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true'

export const SIGNABLE_HEADERS: ReadonlySet<string> = new Set(['content-type', 'content-length', 'content-md5'])
/** UploadPart: content-type stays unsigned (S3RequestPresigner's default), so parts need none. */
export const PART_SIGNABLE_HEADERS: ReadonlySet<string> = new Set(['content-length', 'content-md5'])

export function createOracleClient (config: PresignerConfig): S3Client {
  return new S3Client({
    endpoint: config.endpoint,
    region: config.region,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
    forcePathStyle: config.forcePathStyle,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED'
  })
}

type OracleCommand = GetObjectCommand | HeadObjectCommand | PutObjectCommand | UploadPartCommand

/** The SDK command equivalent to a PresignInput. */
export function oracleCommand (input: PresignInput): OracleCommand {
  const { bucket: Bucket, key: Key } = input
  const h = input.headers ?? {}
  const contentLength = h['content-length'] === undefined ? undefined : Number(h['content-length'])
  switch (input.operation) {
    case 'GetObject':
      return new GetObjectCommand({
        Bucket,
        Key,
        ResponseContentType: input.responseContentType,
        ResponseContentDisposition: input.responseContentDisposition
      })
    case 'HeadObject':
      return new HeadObjectCommand({
        Bucket,
        Key,
        ResponseContentType: input.responseContentType,
        ResponseContentDisposition: input.responseContentDisposition
      })
    case 'PutObject':
      return new PutObjectCommand({
        Bucket,
        Key,
        ContentType: h['content-type'],
        ContentLength: contentLength,
        ContentMD5: h['content-md5'],
        IfNoneMatch: h['if-none-match']
      })
    case 'UploadPart':
      return new UploadPartCommand({
        Bucket,
        Key,
        PartNumber: input.partNumber,
        UploadId: input.uploadId,
        ContentLength: contentLength,
        ContentMD5: h['content-md5']
      })
    default:
      throw new TypeError(`oracle: unsupported operation ${String((input as { operation: unknown }).operation)}`)
  }
}

export interface Oracle {
  readonly client: S3Client;
  /** The SDK's presigned URL for `input` (pass an explicit signingDate to compare with ours). */
  presign(input: PresignInput): Promise<string>;
}

export function createOracle (config: PresignerConfig): Oracle {
  const client = createOracleClient(config)
  return {
    client,
    presign (input) {
      const options = {
        expiresIn: input.expiresIn,
        signingDate: input.signingDate ?? new Date(),
        // Parts never sign content-type (the SDK still sends its default one, unsigned).
        signableHeaders: new Set(input.operation === 'UploadPart' ? PART_SIGNABLE_HEADERS : SIGNABLE_HEADERS)
      }
      const command = oracleCommand(input)
      // One call per concrete type: getSignedUrl's generics don't accept the union.
      if (command instanceof GetObjectCommand) return getSignedUrl(client, command, options)
      if (command instanceof HeadObjectCommand) return getSignedUrl(client, command, options)
      if (command instanceof PutObjectCommand) return getSignedUrl(client, command, options)
      return getSignedUrl(client, command, options)
    }
  }
}
