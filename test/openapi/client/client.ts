/**
 * How a caller uses r2-signer through a client generated from openapi/openapi.json:
 * openapi-typescript types (./generated/r2-signer.d.ts, written by
 * test/openapi/client.test.ts, not committed) and openapi-fetch.
 *
 * Not part of `npm run typecheck` (tsconfig.json excludes this directory, since the
 * types only exist once generated): test/openapi/client.test.ts type-checks this file
 * against the freshly generated types, then drives the running service with it. The
 * `@ts-expect-error` lines prove the generated types are precise, not `any`.
 */
import createClient from 'openapi-fetch'
import type { components, operations, paths } from './generated/r2-signer.js'

export type Schemas = components['schemas']
export type Problem = Schemas['Problem']

/** What each call returns to the test: the status, the parsed body and the headers. */
export interface Outcome<T> {
  status: number
  contentType: string | null
  headers: Headers
  data?: T
  error?: Problem
}

export function r2Signer (baseUrl: string, token?: string) {
  return createClient<paths>({ baseUrl, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
}

type Client = ReturnType<typeof r2Signer>

function outcome<T> (result: { data?: T, error?: unknown, response: Response }): Outcome<T> {
  return {
    status: result.response.status,
    contentType: result.response.headers.get('content-type'),
    headers: result.response.headers,
    ...(result.data !== undefined && { data: result.data }),
    ...(result.error !== undefined && { error: result.error as Problem })
  }
}

export async function downloadUrl (client: Client, body: Schemas['DownloadUrlRequest']): Promise<Outcome<Schemas['DownloadUrlResponse']>> {
  const result = await client.POST('/v1/download-urls', { body })
  if (result.data !== undefined) {
    // The generated types know the answer's shape.
    const url: string = result.data.url
    const method: 'GET' | 'HEAD' = result.data.method
    const headers: Record<string, string> = result.data.headers
    void [url, method, headers]
  }
  if (result.error !== undefined) {
    // Errors are typed as Problem, with the code enum.
    const code: Problem['code'] = result.error.code
    void code
  }
  return outcome(result)
}

export async function uploadUrl (client: Client, body: Schemas['UploadUrlRequest']): Promise<Outcome<Schemas['UploadUrlResponse']>> {
  const result = await client.POST('/v1/upload-urls', { body })
  if (result.data !== undefined) {
    const method: 'PUT' = result.data.method
    void method
  }
  return outcome(result)
}

/** Sends the body as text/plain: what a misconfigured caller does (415). */
export async function uploadUrlAsText (client: Client, body: Schemas['UploadUrlRequest']): Promise<Outcome<Schemas['UploadUrlResponse']>> {
  return outcome(await client.POST('/v1/upload-urls', {
    body,
    headers: { 'content-type': 'text/plain' },
    bodySerializer: (value) => JSON.stringify(value)
  }))
}

export async function batch (client: Client, body: Schemas['BatchRequest']): Promise<Outcome<Schemas['BatchResponse']>> {
  const result = await client.POST('/v1/batch', { body })
  if (result.data !== undefined) {
    // Each item is signed (status 200 and a URL) or refused (a status and a Problem).
    for (const item of result.data.items) {
      if ('problem' in item) {
        const code: Problem['code'] = item.problem.code
        void code
      } else {
        const url: string = item.url
        const method: 'GET' | 'HEAD' | 'PUT' = item.method
        void [url, method]
      }
    }
  }
  return outcome(result)
}

export async function liveness (client: Client): Promise<Outcome<Schemas['HealthStatus']>> {
  return outcome(await client.GET('/healthz'))
}

// --- compile-time checks of the generated types ------------------------------------------------

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
const checks: Array<true> = [
  true as Equal<Schemas['UploadUrlResponse']['method'], 'PUT'>,
  true as Equal<Schemas['DownloadUrlRequest']['method'], 'GET' | 'HEAD' | undefined>,
  true as Equal<Schemas['DownloadUrlRequest']['key'], string>,
  true as Equal<Schemas['UploadUrlRequest']['contentLength'], number>,
  true as Equal<Schemas['Problem']['status'], number>,
  true as Equal<operations['createDownloadUrl']['requestBody']['content']['application/json'], Schemas['DownloadUrlRequest']>,
  true as Equal<Schemas['BatchDownloadItem']['op'], 'download'>,
  true as Equal<Schemas['BatchUploadItem']['contentLength'], number>,
  true as Equal<Schemas['BatchRequest']['items'], Array<Schemas['BatchDownloadItem'] | Schemas['BatchUploadItem']>>
]
void checks

export async function typeErrors (client: Client): Promise<void> {
  // @ts-expect-error key is required
  await client.POST('/v1/download-urls', { body: { expiresIn: 60 } })
  // @ts-expect-error method is GET or HEAD
  await client.POST('/v1/download-urls', { body: { key: 'a', method: 'PUT' } })
  // @ts-expect-error contentType is required for uploads
  await client.POST('/v1/upload-urls', { body: { key: 'a', contentLength: 1 } })
  // @ts-expect-error contentLength is required for uploads
  await client.POST('/v1/upload-urls', { body: { key: 'a', contentType: 'text/plain' } })
  // @ts-expect-error unknown fields are not part of the contract (additionalProperties: false)
  const withUnknownField: Schemas['UploadUrlRequest'] = { key: 'a', contentType: 'text/plain', acl: 'public-read' }
  void withUnknownField
  // @ts-expect-error a batch item names its op
  await client.POST('/v1/batch', { body: { items: [{ key: 'a' }] } })
  // @ts-expect-error no such route
  await client.POST('/v1/delete-everything', { body: {} })
  // @ts-expect-error /healthz is GET only
  await client.POST('/healthz', {})
}
