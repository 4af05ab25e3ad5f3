import type { FastifyInstance } from 'fastify'
import { contentDisposition } from '../../signing/content-disposition.js'
import { inlineContentTypeMatcher } from '../../signing/inline-content-types.js'

/**
 * Signing one authorized download, shared by the single route and the batch route so that an item
 * of a batch is signed exactly as the single route would sign it (uploads: src/uploads/single-put.ts).
 * No I/O, never throws a problem.
 */
export interface DownloadFields {
  method?: 'GET' | 'HEAD' | undefined
  disposition?: 'inline' | 'attachment' | undefined
  filename?: string | undefined
  contentType?: string | undefined
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

/** A download URL signs no header but host: every answer shares one empty, frozen `headers`. */
const NO_HEADERS: Record<string, string> = Object.freeze({})

/** `counted: false`: the caller counts the URLs in the metrics itself (a batch, once per batch). */
export function downloadSigner (app: FastifyInstance, { counted = true }: { counted?: boolean } = {}) {
  const presign = counted ? app.signing.presign : app.signing.presignUncounted
  const mayServeInline = inlineContentTypeMatcher(app.config.downloads.inlineContentTypes)
  // The URLs of a batch expire together: their expiresAt is formatted once, not once per URL.
  let lastExpiry = NaN
  let lastExpiresAt = ''
  const formatExpiry = (date: Date): string => {
    const time = date.getTime()
    if (time !== lastExpiry) {
      lastExpiry = time
      lastExpiresAt = date.toISOString()
    }
    return lastExpiresAt
  }
  return function signDownload (bucket: string, key: string, fields: DownloadFields, expiresIn: number, signingDate?: Date): SignedAnswer & { method: 'GET' | 'HEAD' } {
    const { method = 'GET', filename, contentType } = fields
    const asked = fields.disposition ?? (filename === undefined ? undefined : 'attachment')
    // A type override outside DOWNLOAD_INLINE_CONTENT_TYPES (text/html, SVG...) is never rendered by the
    // browser on the storage origin: not when inline is asked, nor by default (no disposition at all).
    const disposition = contentType !== undefined && !mayServeInline(contentType) ? 'attachment' : asked
    const signed = presign({
      operation: method === 'HEAD' ? 'HeadObject' : 'GetObject',
      bucket,
      key,
      expiresIn,
      responseContentType: contentType,
      responseContentDisposition: disposition === undefined ? undefined : contentDisposition(disposition, filename),
      signingDate
    })
    return { url: signed.url, method, headers: NO_HEADERS, bucket, key, expiresIn, expiresAt: formatExpiry(signed.expiresAt) }
  }
}
