/**
 * Before a multipart upload is completed: does storage hold exactly the planned parts? Pure.
 * Storage would assemble whatever parts it is given; this is what keeps the object the size the
 * policy allowed, with the content the client meant.
 */
import { quoteEtag, type CompletedPart, type UploadedPart } from '../storage/multipart.js'

export interface PartLayout {
  size: number
  partSize: number
}

export function partCountOf ({ size, partSize }: PartLayout): number {
  return Math.max(1, Math.ceil(size / partSize))
}

/** The planned size of part `partNumber` (1-based): partSize, the last one the rest. */
export function plannedPartSize (layout: PartLayout, partNumber: number): number {
  const count = partCountOf(layout)
  return partNumber < count ? layout.partSize : layout.size - (count - 1) * layout.partSize
}

/** Most findings named in one detail. */
const MAX_FINDINGS = 10

/**
 * Undefined when `given` is exactly parts 1..partCount, storage holds each with its planned size,
 * and each given ETag is storage's; else the detail of 400 UPLOAD_INCOMPLETE naming what is wrong.
 */
export function completionProblem (layout: PartLayout, stored: readonly UploadedPart[], given: readonly CompletedPart[]): string | undefined {
  const count = partCountOf(layout)
  const storedByNumber = new Map(stored.map((part) => [part.partNumber, part]))
  const givenByNumber = new Map(given.map((part) => [part.partNumber, part]))
  const findings: string[] = []
  let more = 0
  const note = (finding: string) => {
    if (findings.length < MAX_FINDINGS) findings.push(finding)
    else more++
  }
  for (const part of given) {
    if (part.partNumber > count) note(`part ${part.partNumber} is beyond the plan's ${count} parts`)
  }
  for (let n = 1; n <= count; n++) {
    const held = storedByNumber.get(n)
    const planned = plannedPartSize(layout, n)
    if (held === undefined) {
      note(`part ${n} is missing`)
      continue
    }
    if (held.size !== planned) note(`part ${n} holds ${held.size} bytes instead of ${planned}`)
    const listed = givenByNumber.get(n)
    if (listed === undefined) note(`part ${n} is not in the list`)
    else if (quoteEtag(listed.etag) !== quoteEtag(held.etag)) note(`part ${n}'s ETag is not the one storage holds`)
  }
  if (findings.length === 0) return undefined
  const rest = more > 0 ? `, and ${more} more` : ''
  return `The upload is not complete: ${findings.join('; ')}${rest}. Upload those parts (or list them for their ETags), then complete again.`
}
