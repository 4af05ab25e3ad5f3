/**
 * Upload policy: how big an upload may be, which content types it may have, and whether it may
 * overwrite. Pure functions, no I/O.
 *
 * Two sources, and the tighter wins:
 * - the deployment ceiling (UPLOAD_MAX_BYTES, UPLOAD_CONTENT_TYPES);
 * - the permission service's `limits` in its 200 answer (per user, per key), all fields optional.
 * A limit only binds because the URL signs it: content-length (storage refuses any other size),
 * content-type, and `if-none-match: *` for write-once (storage answers 412 for an existing key).
 */

import { isMediaTypePattern, mediaTypeEssence, splitMediaTypeList } from '../signing/media-types.js'

/** S3's largest object (and R2's single-PUT limit, rounded up): the default ceiling. */
export const DEFAULT_UPLOAD_MAX_BYTES = 5 * 1024 ** 3

/** What the permission service may send in `limits` (every field optional). */
export interface UploadLimits {
  maxBytes?: number
  /** Media types or `type/*` patterns, lower case. */
  contentTypes?: string[]
  writeOnce?: boolean
}

/** The deployment's ceiling; `contentTypes` undefined: any type. */
export interface UploadCeiling {
  maxBytes: number
  contentTypes?: readonly string[] | undefined
}

/**
 * What applies to one upload. `contentTypes` holds one pattern list per source that restricts
 * types (the ceiling's, the answer's): a type must match every list. Empty: any type.
 */
export interface UploadPolicy {
  maxBytes: number
  contentTypes: string[][]
  writeOnce: boolean
}

const MAX_PATTERNS = 100

/** `type/subtype` or `type/*`, lower case, no parameters, at most 255 characters. */
export function isContentTypePattern (value: string): boolean {
  return value.length <= 255 && isMediaTypePattern(value)
}

/** UPLOAD_CONTENT_TYPES: a comma list of patterns (case-insensitive), or undefined when one is invalid. */
export function parseContentTypeList (value: string): string[] | undefined {
  const entries = splitMediaTypeList(value)
  if (entries.length === 0 || entries.length > MAX_PATTERNS || !entries.every(isContentTypePattern)) return undefined
  return entries
}

/**
 * The permission answer's `limits` member, checked strictly: an object with only maxBytes (a
 * non-negative integer), contentTypes (1..100 patterns) and writeOnce (a boolean). Anything else
 * (a wrong type, a fraction, a bad pattern, an unknown member) is a string saying what is wrong:
 * the whole answer is then unusable (fail closed: a limit we cannot read is not ignored).
 */
export function parseUploadLimits (value: unknown): { ok: true, limits: UploadLimits } | { ok: false, problem: string } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, problem: '"limits" is not an object' }
  const limits: UploadLimits = {}
  for (const [name, member] of Object.entries(value)) {
    switch (name) {
      case 'maxBytes':
        if (typeof member !== 'number' || !Number.isSafeInteger(member) || member < 0) return { ok: false, problem: '"limits.maxBytes" is not a non-negative integer' }
        limits.maxBytes = member
        break
      case 'contentTypes': {
        if (!Array.isArray(member) || member.length === 0 || member.length > MAX_PATTERNS) return { ok: false, problem: `"limits.contentTypes" is not a list of 1 to ${MAX_PATTERNS} media types` }
        const patterns: string[] = []
        for (const pattern of member) {
          if (typeof pattern !== 'string' || !isContentTypePattern(pattern.toLowerCase())) return { ok: false, problem: '"limits.contentTypes" holds something that is not a media type or type/*' }
          patterns.push(pattern.toLowerCase())
        }
        limits.contentTypes = patterns
        break
      }
      case 'writeOnce':
        if (typeof member !== 'boolean') return { ok: false, problem: '"limits.writeOnce" is not a boolean' }
        limits.writeOnce = member
        break
      default:
        return { ok: false, problem: `"limits" has an unknown member ${JSON.stringify(name.slice(0, 40))}` }
    }
  }
  return { ok: true, limits }
}

/** The tighter of the ceiling and the permission service's limits. */
export function effectivePolicy (ceiling: UploadCeiling, limits: UploadLimits | undefined): UploadPolicy {
  const contentTypes: string[][] = []
  if (ceiling.contentTypes !== undefined) contentTypes.push([...ceiling.contentTypes])
  if (limits?.contentTypes !== undefined) contentTypes.push(limits.contentTypes)
  return {
    maxBytes: Math.min(ceiling.maxBytes, limits?.maxBytes ?? Number.POSITIVE_INFINITY),
    contentTypes,
    writeOnce: limits?.writeOnce === true
  }
}

/** Does a Content-Type (parameters allowed) match a pattern list? Matched on the type alone, case-insensitively. */
export function matchesContentTypes (patterns: readonly string[], contentType: string): boolean {
  const essence = mediaTypeEssence(contentType)
  const type = essence.split('/')[0] ?? ''
  return patterns.some((pattern) => pattern === essence || pattern === `${type}/*`)
}

export function contentTypeAllowed (policy: UploadPolicy, contentType: string): boolean {
  return policy.contentTypes.every((patterns) => matchesContentTypes(patterns, contentType))
}

/** The problem code and words for an upload the policy refuses, or undefined when it fits. */
export function policyRefusal (policy: UploadPolicy, size: number, contentType: string): { code: 'UPLOAD_TOO_LARGE' | 'CONTENT_TYPE_NOT_ALLOWED', detail: string } | undefined {
  if (size > policy.maxBytes) {
    return { code: 'UPLOAD_TOO_LARGE', detail: `The upload is ${size} bytes; at most ${policy.maxBytes} bytes are allowed here.` }
  }
  if (!contentTypeAllowed(policy, contentType)) {
    const allowed = policy.contentTypes.map((patterns) => patterns.join(', ')).join('; and ')
    return { code: 'CONTENT_TYPE_NOT_ALLOWED', detail: `Content type ${JSON.stringify(contentType.slice(0, 100))} is not allowed here; allowed: ${allowed}.` }
  }
  return undefined
}
