/**
 * Applies the bucket CORS rule browsers need to use r2-signer's URLs from your web app's origin,
 * on any S3-compatible store (Cloudflare R2, AWS S3, Ceph RGW, MinIO…), with PutBucketCors.
 *
 *   CORS_ORIGINS=https://app.example.com,http://localhost:3000 \
 *   R2_ACCOUNT_ID=… S3_ACCESS_KEY_ID=… S3_SECRET_ACCESS_KEY=… S3_BUCKET=media npm run cors:apply
 *
 * Same variables as r2-signer (S3_ENDPOINT or R2_ACCOUNT_ID, S3_REGION, S3_FORCE_PATH_STYLE);
 * the key needs permission to change the bucket's settings (R2: an "Admin Read & Write" token).
 * It replaces the bucket's whole CORS configuration and prints what storage holds afterwards.
 */
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { GetBucketCorsCommand, PutBucketCorsCommand, S3Client, type CORSRule } from '@aws-sdk/client-s3'

export interface CorsTarget {
  endpoint: string
  region?: string
  accessKeyId: string
  secretAccessKey: string
  bucket: string
  forcePathStyle?: boolean
}

/**
 * What a browser app needs, and nothing more:
 * - PUT for uploads and multipart parts, GET and HEAD for downloads and `<video>`;
 * - the request headers the page sends: Content-Type (signed on every upload), Content-MD5 when the
 *   backend signs one, Range for fetch()-based partial reads (`<video>` itself needs no CORS);
 * - ETag exposed, or the page cannot read the part ETags it must hand to "complete".
 */
export function corsRules (origins: string[]): CORSRule[] {
  if (origins.length === 0) throw new Error('at least one origin is needed, e.g. https://app.example.com')
  for (const origin of origins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new Error(`${JSON.stringify(origin)} is not an origin: scheme://host[:port], no path or trailing slash`)
    }
  }
  return [{
    AllowedOrigins: origins,
    AllowedMethods: ['GET', 'HEAD', 'PUT'],
    AllowedHeaders: ['content-type', 'content-md5', 'if-none-match', 'range'],
    ExposeHeaders: ['ETag', 'Content-Length', 'Content-Range', 'Accept-Ranges'],
    MaxAgeSeconds: 3600
  }]
}

function client (target: CorsTarget): S3Client {
  return new S3Client({
    endpoint: target.endpoint,
    region: target.region ?? 'auto',
    forcePathStyle: target.forcePathStyle ?? true,
    credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
    // PutBucketCors needs a Content-MD5 or checksum; the SDK adds it when required.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED'
  })
}

/** Puts the rule for `origins` on the bucket and returns the rules storage holds afterwards. */
export async function applyCors (target: CorsTarget, origins: string[]): Promise<CORSRule[]> {
  const s3 = client(target)
  try {
    await s3.send(new PutBucketCorsCommand({ Bucket: target.bucket, CORSConfiguration: { CORSRules: corsRules(origins) } }))
    const current = await s3.send(new GetBucketCorsCommand({ Bucket: target.bucket }))
    return current.CORSRules ?? []
  } finally {
    s3.destroy()
  }
}

/** The target from r2-signer's own variables. */
export function targetFromEnv (env: NodeJS.ProcessEnv): CorsTarget {
  const missing = ['S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'S3_BUCKET'].filter((name) => !env[name])
  const endpoint = env.S3_ENDPOINT || (env.R2_ACCOUNT_ID ? `https://${env.R2_ACCOUNT_ID}.r2.cloudflarestorage.com` : undefined)
  if (!endpoint) missing.unshift('S3_ENDPOINT or R2_ACCOUNT_ID')
  if (missing.length > 0) throw new Error(`missing: ${missing.join(', ')}`)
  return {
    endpoint: endpoint as string,
    region: env.S3_REGION || 'auto',
    accessKeyId: env.S3_ACCESS_KEY_ID as string,
    secretAccessKey: env.S3_SECRET_ACCESS_KEY as string,
    bucket: env.S3_BUCKET as string,
    forcePathStyle: env.S3_FORCE_PATH_STYLE !== 'false'
  }
}

async function main (): Promise<void> {
  const origins = (process.env.CORS_ORIGINS ?? '').split(',').map((origin) => origin.trim()).filter(Boolean)
  if (origins.length === 0) throw new Error('missing: CORS_ORIGINS (comma-separated origins of your web app, e.g. https://app.example.com)')
  const target = targetFromEnv(process.env)
  const rules = await applyCors(target, origins)
  process.stdout.write(`CORS rule applied to bucket ${target.bucket} at ${target.endpoint}; storage now holds:\n${JSON.stringify(rules, null, 2)}\n`)
}

function isDirectRun (): boolean {
  const entry = process.argv[1]
  if (!entry) return false
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href
  } catch {
    return false
  }
}

if (isDirectRun()) {
  main().catch((error: unknown) => {
    process.stderr.write(`cors:apply: ${(error as Error).message}\n`)
    process.exit(1)
  })
}
