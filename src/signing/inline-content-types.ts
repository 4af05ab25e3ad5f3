/**
 * Which `contentType` overrides a download URL may serve inline (DOWNLOAD_INLINE_CONTENT_TYPES).
 * A signed `response-content-type: text/html` served inline would make storage render any readable
 * object as a page on the storage origin (stored XSS through a download URL); outside the list,
 * the override is served as `attachment` instead, which browsers save rather than render.
 *
 * Entries are media types (`application/pdf`) or `type/*` wildcards (`video/*`), matched without
 * parameters and case-insensitively. A wildcard never matches a `+xml` type (`image/svg+xml`,
 * `audio/x+xml`): browsers render those as XML documents, which can carry script.
 */
import { isMediaTypePattern, mediaTypeEssence, splitMediaTypeList } from './media-types.js'

export const DEFAULT_INLINE_CONTENT_TYPES = 'image/*,audio/*,video/*,application/pdf,text/plain'

/** `none`: no override is ever served inline. */
export const NO_INLINE_CONTENT_TYPES = 'none'

/** The list's entries, or undefined when one is not a media type or `type/*`. */
export function parseInlineContentTypes (value: string): string[] | undefined {
  if (value.trim().toLowerCase() === NO_INLINE_CONTENT_TYPES) return []
  const entries = splitMediaTypeList(value)
  if (entries.length === 0 || !entries.every(isMediaTypePattern)) return undefined
  return entries
}

/** A predicate: may a response with this Content-Type (parameters allowed) be served inline? */
export function inlineContentTypeMatcher (entries: readonly string[]): (contentType: string) => boolean {
  const exact = new Set(entries.filter((entry) => !entry.endsWith('/*')))
  const wildcardTypes = new Set(entries.filter((entry) => entry.endsWith('/*')).map((entry) => entry.slice(0, -2)))
  return (contentType) => {
    const essence = mediaTypeEssence(contentType)
    if (exact.has(essence)) return true
    const [type = '', subtype = ''] = essence.split('/')
    return wildcardTypes.has(type) && !subtype.endsWith('+xml')
  }
}
