/**
 * The few bucket-level S3 calls r2-signer makes outside multipart, without the AWS SDK: HeadBucket
 * (readiness) and ListObjectsV2 / DeleteObject (the storage self-test's clean-up). Loading the SDK
 * costs ≈12 MB of resident memory (docs/performance.md, *Memory*); these calls are signed with the
 * project's SigV4 primitives (an Authorization header, as the SDK sends it) and sent with undici,
 * so the SDK is loaded only when the multipart control plane (src/storage/multipart.ts) is used.
 * Addressing follows the presigner's (and the SDK's) rules: virtual-hosted buckets unless path
 * style is forced, the endpoint is an IP, or the bucket is not one DNS label.
 */
import { Agent } from 'undici'
import {
  ALGORITHM,
  KEY_TYPE,
  SigningKeyCache,
  buildCanonicalRequest,
  formatAmzDate,
  sha256Hex,
  signCanonicalRequest,
  uriEscape,
  uriEscapePath
} from '../signing/sigv4.js'
import { IPV4, VIRTUAL_HOSTABLE_BUCKET } from '../signing/presigner.js'
import type { S3Connection } from './s3-client.js'

/** Every call here sends no body: the payload hash is that of the empty string. */
const EMPTY_BODY_SHA256 = sha256Hex('')
const SIGNED_HEADERS = 'host;x-amz-content-sha256;x-amz-date'

export interface S3Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

export interface S3Call {
  method: 'GET' | 'HEAD' | 'DELETE'
  bucket: string
  /** Absent: a bucket-level call. */
  key?: string
  query?: Record<string, string>
  signal?: AbortSignal
}

export interface S3Requests {
  /** Answers whatever storage answers (any status); throws on network errors, timeouts and aborts. */
  send: (call: S3Call) => Promise<S3Answer>
  close: () => Promise<void>
}

/** `timeoutMs` bounds connecting, waiting for the answer's headers, and the whole call. */
export function createS3Requests (connection: S3Connection, { timeoutMs }: { timeoutMs: number }): S3Requests {
  const endpoint = new URL(connection.endpoint)
  const scheme = endpoint.protocol + '//'
  const mayVirtualHost = !connection.forcePathStyle && !IPV4.test(endpoint.hostname) && !endpoint.hostname.startsWith('[')
  const signingKeys = new SigningKeyCache(connection.secretAccessKey, connection.region, 's3')
  const scopeTail = `/${connection.region}/s3/${KEY_TYPE}`
  let agent: Agent | undefined

  async function send ({ method, bucket, key, query = {}, signal }: S3Call): Promise<S3Answer> {
    const virtual = mayVirtualHost && VIRTUAL_HOSTABLE_BUCKET.test(bucket)
    const host = virtual ? `${bucket}.${endpoint.host}` : endpoint.host
    const path = (virtual ? '/' : `/${uriEscape(bucket)}${key === undefined ? '' : '/'}`) + (key === undefined ? '' : uriEscapePath(key))
    const canonicalQuery = Object.keys(query).sort().map((name) => `${uriEscape(name)}=${uriEscape(query[name] as string)}`).join('&')
    const amzDate = formatAmzDate(new Date())
    const date8 = amzDate.slice(0, 8)
    const canonicalHeaders = `host:${host}\nx-amz-content-sha256:${EMPTY_BODY_SHA256}\nx-amz-date:${amzDate}\n`
    const canonicalRequest = buildCanonicalRequest(method, path, canonicalQuery, canonicalHeaders, SIGNED_HEADERS, EMPTY_BODY_SHA256)
    const signature = signCanonicalRequest(signingKeys.get(date8), amzDate, date8 + scopeTail, canonicalRequest)

    agent ??= new Agent({ connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, keepAliveTimeout: 1000 })
    const answer = await agent.request({
      origin: scheme + host,
      path: canonicalQuery === '' ? path : `${path}?${canonicalQuery}`,
      method,
      headers: {
        'x-amz-content-sha256': EMPTY_BODY_SHA256,
        'x-amz-date': amzDate,
        authorization: `${ALGORITHM} Credential=${connection.accessKeyId}/${date8}${scopeTail}, SignedHeaders=${SIGNED_HEADERS}, Signature=${signature}`
      },
      signal: signal === undefined ? AbortSignal.timeout(timeoutMs) : AbortSignal.any([AbortSignal.timeout(timeoutMs), signal])
    })
    return { status: answer.statusCode, headers: answer.headers, body: await answer.body.text() }
  }

  return {
    send,
    async close () {
      const closing = agent
      agent = undefined
      await closing?.close().catch(() => {})
    }
  }
}

export interface ListedObject { key: string, lastModified?: Date }

/** The objects of a ListObjectsV2 answer (`<Contents>`: Key, LastModified), XML entities decoded. */
export function listedObjects (xml: string): ListedObject[] {
  const objects: ListedObject[] = []
  for (const [, contents] of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
    const key = /<Key>([\s\S]*?)<\/Key>/.exec(contents as string)?.[1]
    if (key === undefined) continue
    const modified = /<LastModified>([^<]*)<\/LastModified>/.exec(contents as string)?.[1]
    const lastModified = modified === undefined ? undefined : new Date(modified)
    objects.push({ key: decodeXmlText(key), ...(lastModified !== undefined && !Number.isNaN(lastModified.getTime()) && { lastModified }) })
  }
  return objects
}

const XML_ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

function decodeXmlText (text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (entity, name: string) => {
    if (name.startsWith('#x')) return String.fromCodePoint(Number.parseInt(name.slice(2), 16))
    if (name.startsWith('#')) return String.fromCodePoint(Number.parseInt(name.slice(1), 10))
    return XML_ENTITIES[name] ?? entity
  })
}
