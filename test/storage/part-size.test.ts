/**
 * Part-size arithmetic (src/storage/part-size.ts): pure functions, checked at every boundary
 * and, for a spread of sizes from 0 to the largest object, against the invariants R2 imposes.
 */
import t, { type Test } from 'tap'
import {
  DEFAULT_PART_SIZE,
  GiB,
  MAX_OBJECT_SIZE,
  MAX_PARTS,
  MAX_PART_SIZE,
  MIN_PART_SIZE,
  MiB,
  PartSizeError,
  TiB,
  checkPartSize,
  minimumPartSize,
  planParts,
  type PartPlan
} from '../../src/storage/part-size.js'

/** What R2 and S3 require of a plan for `size` bytes. */
function checkInvariants (t: Test, size: number, plan: PartPlan, label = String(size)): void {
  const { partSize, partCount, lastPartSize } = plan
  const problems: string[] = []
  if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) problems.push(`partSize ${partSize} out of range`)
  if (!Number.isInteger(partCount) || partCount < 1 || partCount > MAX_PARTS) problems.push(`partCount ${partCount} out of range`)
  if ((partCount - 1) * partSize + lastPartSize !== size) problems.push('parts do not add up to size')
  if (lastPartSize > partSize) problems.push('last part larger than the others')
  if (size > 0 && lastPartSize < 1) problems.push('an empty last part in a non-empty object')
  if (size === 0 && (partCount !== 1 || lastPartSize !== 0)) problems.push('an empty object is not one empty part')
  t.same(problems, [], `invariants hold for ${label}`)
}

t.test('the limits are the stricter of S3 and R2', async (t) => {
  t.equal(MIN_PART_SIZE, 5_242_880, '5 MiB')
  t.equal(MAX_PART_SIZE, 5 * GiB - 5 * MiB, 'R2: 5 GiB − 5 MiB')
  t.equal(MAX_PARTS, 10_000)
  t.equal(MAX_OBJECT_SIZE, 5 * TiB - 5 * GiB, 'R2: 5 TiB − 5 GiB (4.995 TiB)')
  t.ok(Number.isSafeInteger(MAX_OBJECT_SIZE))
  t.ok(MAX_PARTS * MAX_PART_SIZE > MAX_OBJECT_SIZE, 'the object limit, not the part limit, binds')
})

t.test('small files: one part of the default size', async (t) => {
  t.same(planParts(0), { partSize: DEFAULT_PART_SIZE, partCount: 1, lastPartSize: 0 }, 'size 0: one empty part')
  t.same(planParts(1), { partSize: DEFAULT_PART_SIZE, partCount: 1, lastPartSize: 1 })
  t.same(planParts(DEFAULT_PART_SIZE), { partSize: DEFAULT_PART_SIZE, partCount: 1, lastPartSize: DEFAULT_PART_SIZE }, 'exactly one part')
  t.same(planParts(DEFAULT_PART_SIZE + 1), { partSize: DEFAULT_PART_SIZE, partCount: 2, lastPartSize: 1 }, 'one byte more: a one-byte last part')
  t.same(planParts(3 * DEFAULT_PART_SIZE - 7), { partSize: DEFAULT_PART_SIZE, partCount: 3, lastPartSize: DEFAULT_PART_SIZE - 7 })
})

t.test('exactly 10,000 parts, and one byte more', async (t) => {
  const full = MAX_PARTS * DEFAULT_PART_SIZE
  t.same(planParts(full), { partSize: DEFAULT_PART_SIZE, partCount: MAX_PARTS, lastPartSize: DEFAULT_PART_SIZE }, '10,000 default parts')
  const over = planParts(full + 1)
  t.equal(over.partSize, DEFAULT_PART_SIZE + MiB, 'one byte more: the part size grows to the next whole MiB')
  t.ok(over.partCount <= MAX_PARTS)
  checkInvariants(t, full + 1, over)

  // With a requested part size: the boundary is exact, to the byte.
  t.same(planParts(MAX_PARTS * MIN_PART_SIZE, MIN_PART_SIZE), { partSize: MIN_PART_SIZE, partCount: MAX_PARTS, lastPartSize: MIN_PART_SIZE })
  t.throws(() => planParts(MAX_PARTS * MIN_PART_SIZE + 1, MIN_PART_SIZE), PartSizeError, '10,001 parts are refused')
  t.match(t.throws(() => planParts(MAX_PARTS * MIN_PART_SIZE + 1, MIN_PART_SIZE)) as Error, { message: /use at least 5242881 bytes/ }, 'the error names the smallest part size that works')
  t.same(planParts(MAX_PARTS * MIN_PART_SIZE + 1, MIN_PART_SIZE + 1).partCount, MAX_PARTS, 'and that size works')
})

t.test('the largest object', async (t) => {
  const plan = planParts(MAX_OBJECT_SIZE)
  t.equal(plan.partSize, 524 * MiB, 'the smallest whole MiB that fits 4.995 TiB in 10,000 parts')
  t.ok(plan.partCount <= MAX_PARTS)
  checkInvariants(t, MAX_OBJECT_SIZE, plan)
  t.throws(() => planParts(MAX_OBJECT_SIZE + 1), PartSizeError, 'one byte more than R2 allows')
  t.throws(() => planParts(5 * TiB), PartSizeError, '5 TiB is over R2\'s 4.995 TiB')
  t.same(planParts(MAX_OBJECT_SIZE, MAX_PART_SIZE).partCount, Math.ceil(MAX_OBJECT_SIZE / MAX_PART_SIZE), 'the largest part size works too')
  const needed = minimumPartSize(MAX_OBJECT_SIZE)
  t.equal(needed, Math.ceil(MAX_OBJECT_SIZE / MAX_PARTS))
  t.equal(planParts(MAX_OBJECT_SIZE, needed).partCount, MAX_PARTS, 'the minimum part size gives exactly 10,000 parts')
  t.throws(() => planParts(MAX_OBJECT_SIZE, needed - 1), PartSizeError)
})

t.test('requested part sizes are checked', async (t) => {
  t.throws(() => planParts(100, MIN_PART_SIZE - 1), PartSizeError, 'under 5 MiB')
  t.throws(() => planParts(100, MAX_PART_SIZE + 1), PartSizeError, 'over 5 GiB − 5 MiB')
  t.throws(() => planParts(100, 5 * GiB), PartSizeError, '5 GiB is over R2\'s part limit')
  t.throws(() => planParts(100, MIN_PART_SIZE + 0.5), PartSizeError, 'not an integer')
  t.same(planParts(100, MAX_PART_SIZE), { partSize: MAX_PART_SIZE, partCount: 1, lastPartSize: 100 }, 'a part size above the file size: one part')
  t.same(planParts(0, MIN_PART_SIZE), { partSize: MIN_PART_SIZE, partCount: 1, lastPartSize: 0 })
  t.doesNotThrow(() => checkPartSize(MIN_PART_SIZE))
  t.doesNotThrow(() => checkPartSize(MAX_PART_SIZE))
  t.throws(() => checkPartSize(Number.NaN), PartSizeError)
})

t.test('sizes outside 0..MAX_OBJECT_SIZE are refused', async (t) => {
  for (const size of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, MAX_OBJECT_SIZE + 1, 2 ** 53]) {
    t.throws(() => planParts(size), PartSizeError, `size ${size}`)
  }
})

t.test('invariants over sizes from 0 to the largest object', async (t) => {
  const sizes = new Set<number>([0, 1, MIN_PART_SIZE - 1, MIN_PART_SIZE, MIN_PART_SIZE + 1, DEFAULT_PART_SIZE - 1])
  for (let exp = 0; exp <= 42; exp++) {
    const base = 2 ** exp
    for (const delta of [-1, 0, 1]) if (base + delta >= 0 && base + delta <= MAX_OBJECT_SIZE) sizes.add(base + delta)
  }
  for (const k of [1, 2, 3, 9_999, 10_000, 10_001]) {
    for (const unit of [MIN_PART_SIZE, DEFAULT_PART_SIZE, MiB, GiB]) {
      for (const delta of [-1, 0, 1]) {
        const size = k * unit + delta
        if (size >= 0 && size <= MAX_OBJECT_SIZE) sizes.add(size)
      }
    }
  }
  // A deterministic pseudo-random spread (LCG) over the whole range.
  let seed = 42
  for (let i = 0; i < 2000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    sizes.add(Math.floor((seed / 2 ** 31) * MAX_OBJECT_SIZE))
  }
  sizes.add(MAX_OBJECT_SIZE)

  let failures = 0
  for (const size of sizes) {
    const plan = planParts(size)
    const { partSize, partCount, lastPartSize } = plan
    const ok = partSize >= MIN_PART_SIZE && partSize <= MAX_PART_SIZE && partSize % MiB === 0 &&
      partCount >= 1 && partCount <= MAX_PARTS &&
      (partCount - 1) * partSize + lastPartSize === size && lastPartSize <= partSize &&
      (size === 0 ? lastPartSize === 0 && partCount === 1 : lastPartSize >= 1) &&
      // No smaller whole-MiB part size (at least the default) would also have fitted.
      (partSize === DEFAULT_PART_SIZE || Math.ceil(size / (partSize - MiB)) > MAX_PARTS)
    if (!ok) {
      failures++
      checkInvariants(t, size, plan)
    }
  }
  t.equal(failures, 0, `${sizes.size} sizes: valid, minimal whole-MiB part sizes`)

  // A requested part size is taken as is whenever it fits.
  for (const size of [0, 1, 123_456_789, 50 * GiB, MAX_OBJECT_SIZE]) {
    const partSize = Math.max(MIN_PART_SIZE, minimumPartSize(size))
    const plan = planParts(size, partSize)
    t.equal(plan.partSize, partSize)
    checkInvariants(t, size, plan, `${size} with partSize ${partSize}`)
  }
})
