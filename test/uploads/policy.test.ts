/**
 * The upload policy (src/uploads/policy.ts): content-type patterns, the strict reading of the
 * permission service's `limits`, and the tighter of ceiling and answer.
 */
import t from 'tap'
import { contentTypeAllowed, effectivePolicy, matchesContentTypes, parseContentTypeList, parseUploadLimits, policyRefusal } from '../../src/uploads/policy.js'

t.test('content-type patterns: exact or type/*, without parameters, case-insensitive', async (t) => {
  t.same(parseContentTypeList(' Image/* , application/PDF '), ['image/*', 'application/pdf'])
  for (const bad of ['', ',', 'image', '*/*', 'image/png; q=1', 'text/ plain', 'a/b,c']) t.equal(parseContentTypeList(bad), undefined, JSON.stringify(bad))
  const patterns = ['image/*', 'application/pdf']
  t.ok(matchesContentTypes(patterns, 'IMAGE/PNG'))
  t.ok(matchesContentTypes(patterns, 'application/pdf; charset=binary'))
  t.notOk(matchesContentTypes(patterns, 'application/pdfx'))
  t.notOk(matchesContentTypes(patterns, 'imagex/png'))
  t.notOk(matchesContentTypes(patterns, 'text/html'))
})

t.test('limits are read strictly: anything unclear is unusable', async (t) => {
  t.same(parseUploadLimits({}), { ok: true, limits: {} })
  t.same(parseUploadLimits({ maxBytes: 0, contentTypes: ['Video/*'], writeOnce: false }), { ok: true, limits: { maxBytes: 0, contentTypes: ['video/*'], writeOnce: false } })
  const bad: unknown[] = [null, [], 'x', 1, { maxBytes: -1 }, { maxBytes: 0.5 }, { maxBytes: 2 ** 60 }, { maxBytes: '1' }, { contentTypes: [] }, { contentTypes: ['image'] },
    { contentTypes: [7] }, { contentTypes: Array(101).fill('image/png') }, { writeOnce: 1 }, { unknown: true }]
  for (const value of bad) t.equal(parseUploadLimits(value).ok, false, JSON.stringify(value))
})

t.test('the effective policy is the tighter of ceiling and answer', async (t) => {
  const ceiling = { maxBytes: 1000, contentTypes: ['image/*', 'text/plain'] }
  t.same(effectivePolicy(ceiling, undefined), { maxBytes: 1000, contentTypes: [['image/*', 'text/plain']], writeOnce: false })
  const policy = effectivePolicy(ceiling, { maxBytes: 5000, contentTypes: ['image/png', 'application/pdf'], writeOnce: true })
  t.equal(policy.maxBytes, 1000, 'the ceiling when the answer is looser')
  t.equal(effectivePolicy(ceiling, { maxBytes: 10 }).maxBytes, 10, 'the answer when it is tighter')
  t.ok(policy.writeOnce)
  t.ok(contentTypeAllowed(policy, 'image/png'), 'in both lists')
  t.notOk(contentTypeAllowed(policy, 'image/gif'), 'only in the ceiling')
  t.notOk(contentTypeAllowed(policy, 'application/pdf'), 'only in the answer')
  t.ok(contentTypeAllowed(effectivePolicy({ maxBytes: 1 }, undefined), 'anything/at-all'), 'no lists: any type')
  t.match(policyRefusal(policy, 1001, 'image/png'), { code: 'UPLOAD_TOO_LARGE', detail: /at most 1000 bytes/ })
  t.match(policyRefusal(policy, 1000, 'image/gif'), { code: 'CONTENT_TYPE_NOT_ALLOWED' })
  t.equal(policyRefusal(policy, 1000, 'image/png'), undefined)
})
