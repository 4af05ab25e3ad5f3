import type { FastifyInstance } from 'fastify'
import { contentDisposition } from '../../signing/content-disposition.js'
import { inlineContentTypeMatcher } from '../../signing/inline-content-types.js'

/**
 * Signing one authorized object, shared by the single routes and the batch route so that an item
 * of a batch is signed exactly as the single route would sign it. No I/O, never throws a problem.
 */
export interface DownloadFields {
  method?: 'GET' | 'HEAD' | undefined
  disposition?: 'inline' | 'attachment' | undefined
  filename?: string | undefined
  contentType?: string | undefined
}

export interface UploadFields {
  contentType: string
  contentLength?: number | undefined
  contentMd5?: string | undefined
}

export interface SignedAnswer {
  url: string
  method: 'GET' | 'HEAD' | 'PUT'
  headers: Record<string, string>
  bucket: string
  key: string
  expiresIn: number
  expiresAt: string
}

export function downloadSigner (app: FastifyInstance) {
  const mayServeInline = inlineContentTypeMatcher(app.config.downloads.inlineContentTypes)
  return function signDownload (bucket: string, key: string, fields: DownloadFields, expiresIn: number): SignedAnswer & { method: 'GET' | 'HEAD' } {
    const { method = 'GET', filename, contentType } = fields
    const asked = fields.disposition ?? (filename === undefined ? undefined : 'attachment')
    // A type override outside DOWNLOAD_INLINE_CONTENT_TYPES (text/html, SVG...) is never rendered by the
    // browser on the storage origin: not when inline is asked, nor by default (no disposition at all).
    const disposition = contentType !== undefined && !mayServeInline(contentType) ? 'attachment' : asked
    const signed = app.signing.presign({
      operation: method === 'HEAD' ? 'HeadObject' : 'GetObject',
      bucket,
      key,
      expiresIn,
      responseContentType: contentType,
      responseContentDisposition: disposition === undefined ? undefined : contentDisposition(disposition, filename)
    })
    return { url: signed.url, method, headers: {}, bucket, key, expiresIn, expiresAt: signed.expiresAt.toISOString() }
  }
}

/** A PUT URL bound to the content type, and to the length and MD5 when given: all of them are signed headers. */
export function signUpload (app: FastifyInstance, bucket: string, key: string, { contentType, contentLength, contentMd5 }: UploadFields, expiresIn: number): SignedAnswer & { method: 'PUT' } {
  const headers: Record<string, string> = { 'content-type': contentType }
  if (contentLength !== undefined) headers['content-length'] = String(contentLength)
  if (contentMd5 !== undefined) headers['content-md5'] = contentMd5
  const signed = app.signing.presign({ operation: 'PutObject', bucket, key, expiresIn, headers })
  return { url: signed.url, method: 'PUT', headers, bucket, key, expiresIn, expiresAt: signed.expiresAt.toISOString() }
}
