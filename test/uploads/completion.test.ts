/** The parts check before a multipart upload is completed (src/uploads/completion.ts). */
import t from 'tap'
import { completionProblem, partCountOf, plannedPartSize } from '../../src/uploads/completion.js'

const MiB = 1024 ** 2
const layout = { size: 2 * 5 * MiB + 7, partSize: 5 * MiB }
const stored = [{ partNumber: 1, etag: '"a"', size: 5 * MiB }, { partNumber: 2, etag: '"b"', size: 5 * MiB }, { partNumber: 3, etag: '"c"', size: 7 }]
const given = [{ partNumber: 1, etag: 'a' }, { partNumber: 2, etag: '"b"' }, { partNumber: 3, etag: '"c"' }]

t.test('the plan: part sizes and count', async (t) => {
  t.equal(partCountOf(layout), 3)
  t.same([1, 2, 3].map((n) => plannedPartSize(layout, n)), [5 * MiB, 5 * MiB, 7])
  t.equal(partCountOf({ size: 0, partSize: 5 * MiB }), 1, 'an empty file: one empty part')
  t.equal(plannedPartSize({ size: 0, partSize: 5 * MiB }, 1), 0)
  t.equal(plannedPartSize({ size: 10 * MiB, partSize: 5 * MiB }, 2), 5 * MiB, 'an exact multiple: a full last part')
})

t.test('exactly the planned parts, with storage\'s ETags (quoted or not): complete', async (t) => {
  t.equal(completionProblem(layout, stored, given), undefined)
})

t.test('anything else names what is wrong', async (t) => {
  t.match(completionProblem(layout, stored.slice(0, 2), given.slice(0, 2)), /part 3 is missing/)
  t.match(completionProblem(layout, [...stored.slice(0, 2), { partNumber: 3, etag: '"c"', size: 8 }], given), /part 3 holds 8 bytes instead of 7/)
  t.match(completionProblem(layout, stored, given.slice(1)), /part 1 is not in the list/)
  t.match(completionProblem(layout, stored, [{ partNumber: 1, etag: '"z"' }, ...given.slice(1)]), /part 1's ETag is not the one storage holds/)
  t.match(completionProblem(layout, stored, [...given, { partNumber: 4, etag: '"d"' }]), /part 4 is beyond the plan's 3 parts/)
  const many = { size: 20 * 5 * MiB, partSize: 5 * MiB }
  t.match(completionProblem(many, [], []), /part 10 is missing, and 10 more/, 'at most ten findings, then a count')
})
