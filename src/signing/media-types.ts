/**
 * Media-type patterns, as the configuration and the permission service write them: `type/subtype`
 * or `type/*`, lower case, no parameters. Shared by the download inline list
 * (./inline-content-types.ts) and the upload policy (src/uploads/policy.ts). Pure, no I/O.
 */
const PATTERN = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/(?:\*|[a-z0-9][a-z0-9!#$&^_.+-]*)$/

export function isMediaTypePattern (value: string): boolean {
  return PATTERN.test(value)
}

/** A comma list's entries, trimmed and lower-cased, empty entries dropped (not yet checked). */
export function splitMediaTypeList (value: string): string[] {
  return value.split(',').map((entry) => entry.trim().toLowerCase()).filter(Boolean)
}

/** A Content-Type's `type/subtype`, without parameters, lower case. */
export function mediaTypeEssence (contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase()
}
