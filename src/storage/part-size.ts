/**
 * Part-size arithmetic for multipart uploads: pure functions, no I/O.
 *
 * The limits are the stricter of Amazon S3's and Cloudflare R2's, so a plan that passes here is
 * one both accept (https://developers.cloudflare.com/r2/platform/limits/,
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html).
 */

export const MiB = 1024 ** 2
export const GiB = 1024 ** 3
export const TiB = 1024 ** 4

/** S3 and R2: every part but the last must be at least 5 MiB (CompleteMultipartUpload answers EntityTooSmall). */
export const MIN_PART_SIZE = 5 * MiB

/**
 * R2 caps every single upload request, an UploadPart included, at 5 GiB − 5 MiB ("4.995 GiB");
 * S3's cap is 5 GiB. The smaller one wins.
 */
export const MAX_PART_SIZE = 5 * GiB - 5 * MiB

/** Part numbers run from 1 to 10,000 on S3 and R2. */
export const MAX_PARTS = 10_000

/**
 * R2's object size limit is 5 TiB − 5 GiB ("4.995 TiB"); S3 allows more (5 TiB, now 48.8 TiB).
 * Note that 10,000 × MAX_PART_SIZE is far above this: the object limit is what binds.
 */
export const MAX_OBJECT_SIZE = 5 * TiB - 5 * GiB

/**
 * The part size chosen when the file is small enough for it (up to 10,000 × 8 MiB ≈ 78 GiB).
 * Small parts keep a failed part cheap to resend on a flaky connection (8 MiB is about a minute
 * at 1 Mbit/s) and let a browser keep several in flight; it is also the AWS CLI's default.
 * Larger files get the smallest whole number of MiB that fits them in 10,000 parts.
 */
export const DEFAULT_PART_SIZE = 8 * MiB

export interface PartPlan {
  /** Size of every part but the last. */
  partSize: number
  /** How many parts the object takes: 1..10,000 (1 for an empty object: one empty part). */
  partCount: number
  /** Size of the last part: 1..partSize, or 0 for an empty object. */
  lastPartSize: number
}

/** A plan that cannot work; the message says why, in terms a client can act on. */
export class PartSizeError extends RangeError {
  constructor (message: string) {
    super(message)
    this.name = 'PartSizeError'
  }
}

/**
 * The smallest part size that fits `size` bytes into at most 10,000 parts (and is at least
 * 5 MiB). Not rounded: what a requested part size is checked against.
 */
export function minimumPartSize (size: number): number {
  checkSize(size)
  return Math.max(MIN_PART_SIZE, Math.ceil(size / MAX_PARTS))
}

/**
 * Splits an object of `size` bytes into parts: every part `partSize` bytes but the last, which
 * holds the rest (R2 requires exactly that: equal parts, a shorter or equal last one).
 *
 * Without `requestedPartSize`, picks DEFAULT_PART_SIZE, or for files above ≈78 GiB the smallest
 * whole number of MiB that keeps the count at 10,000 or below (at most 524 MiB, for the largest
 * object). With it, checks that it is within 5 MiB..MAX_PART_SIZE and needs at most 10,000 parts.
 *
 * An empty object (size 0) is one empty part: S3 (and Ceph RGW) complete an upload whose only
 * part is empty, while an upload with no parts at all cannot be completed. For an empty object
 * a plain upload URL is simpler, though.
 */
export function planParts (size: number, requestedPartSize?: number): PartPlan {
  checkSize(size)
  let partSize: number
  if (requestedPartSize === undefined) {
    partSize = Math.max(DEFAULT_PART_SIZE, Math.ceil(Math.ceil(size / MAX_PARTS) / MiB) * MiB)
  } else {
    checkPartSize(requestedPartSize)
    const needed = minimumPartSize(size)
    if (requestedPartSize < needed) {
      throw new PartSizeError(`A partSize of ${requestedPartSize} bytes needs more than ${MAX_PARTS} parts for ${size} bytes; use at least ${needed} bytes.`)
    }
    partSize = requestedPartSize
  }
  const partCount = Math.max(1, Math.ceil(size / partSize))
  return { partSize, partCount, lastPartSize: size - (partCount - 1) * partSize }
}

/**
 * CompleteMultipartUpload needs the parts in ascending partNumber order without duplicates:
 * undefined when they are, else what is wrong ("parts[3].partNumber 2 follows 5.").
 */
export function partOrderProblem (parts: ReadonlyArray<{ partNumber: number }>): string | undefined {
  for (let i = 1; i < parts.length; i++) {
    const previous = (parts[i - 1] as { partNumber: number }).partNumber
    const current = (parts[i] as { partNumber: number }).partNumber
    if (current <= previous) return `parts must be in ascending partNumber order without duplicates: parts[${i}].partNumber ${current} follows ${previous}.`
  }
  return undefined
}

/** Throws unless `partSize` is an integer within MIN_PART_SIZE..MAX_PART_SIZE. */
export function checkPartSize (partSize: number): void {
  if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) {
    throw new PartSizeError(`partSize must be an integer from ${MIN_PART_SIZE} (5 MiB) to ${MAX_PART_SIZE} (5 GiB − 5 MiB) bytes.`)
  }
}

function checkSize (size: number): void {
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_OBJECT_SIZE) {
    throw new PartSizeError(`size must be an integer from 0 to ${MAX_OBJECT_SIZE} (5 TiB − 5 GiB) bytes.`)
  }
}
