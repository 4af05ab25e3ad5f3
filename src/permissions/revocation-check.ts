import { HttpProblem } from '../http/problem.js'
import type { RevocationStore } from '../shared-state/revocations.js'

export type RevocationVerdict =
  | { refused: false, unconfirmed: boolean }
  | { refused: true, unconfirmed: boolean, problem: HttpProblem }

/**
 * The revocation step of authorizing one object, shared by every form of checkObject: a local
 * lookup, no I/O. Revoked → 403 REVOKED. Not confirmed current (Redis unavailable) → 503
 * REVOCATION_UNAVAILABLE, unless the store fails open (REVOCATION_FAIL_OPEN=true: the last
 * known copy decides). `unconfirmed` says the answer came without a trusted copy (a metric).
 */
export function checkRevocation (revocations: RevocationStore, subject: string, bucket: string, key: string): RevocationVerdict {
  const unconfirmed = !revocations.isAvailable()
  const found = revocations.check(subject, bucket, key)
  switch (found.status) {
    case 'clear':
      return { refused: false, unconfirmed }
    case 'revoked':
      return {
        refused: true,
        unconfirmed,
        problem: new HttpProblem('REVOKED', found.revocation.subject !== undefined ? 'URLs for this subject have been revoked.' : 'URLs for keys under this prefix have been revoked.')
      }
    case 'unavailable':
      return { refused: true, unconfirmed: true, problem: new HttpProblem('REVOCATION_UNAVAILABLE') }
  }
}
