import { createHash } from 'node:crypto'
import type { Test } from 'tap'

/** Reading signed URLs in tests. */
export function urlQuery (url: unknown): URLSearchParams {
  return new URL(url as string).searchParams
}

/** The object key as it appears in a path-style URL for bucket `media`. */
export function keyFromUrl (url: unknown, bucket = 'media'): string {
  const { pathname } = new URL(url as string)
  if (!pathname.startsWith(`/${bucket}/`)) return `<path ${pathname} is not in bucket ${bucket}>`
  return decodeURIComponent(pathname.slice(bucket.length + 2))
}

export function assertNoChecksumParams (t: Test, url: unknown) {
  for (const name of urlQuery(url).keys()) {
    t.notMatch(name, /^x-amz-(checksum|sdk-checksum)/i, `no checksum param (${name})`)
  }
  t.notMatch(url, /x-amz-checksum|x-amz-sdk-checksum/i, 'no checksum text in the URL')
}

export const md5 = (text: string) => createHash('md5').update(text).digest('base64')
