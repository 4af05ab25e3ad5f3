/**
 * The multipart uploadToken (src/uploads/upload-token.ts): stateless, bound to its upload, bucket
 * and key, unforgeable without the storage secret, and expiring with the upload (7 days).
 */
import t from 'tap'
import { createUploadTokens, UPLOAD_TOKEN_LIFETIME_SECONDS, UPLOAD_TOKEN_PATTERN } from '../../src/uploads/upload-token.js'
import { effectivePolicy } from '../../src/uploads/policy.js'

const plan = {
  uploadId: '2~eTVBiQEBslryxi-1OdiKJF7YeCFINXK',
  bucket: 'media',
  key: 'users/alice/a b/ü.mp4',
  size: 20 * 1024 ** 2 + 1,
  partSize: 8 * 1024 ** 2,
  contentType: 'video/mp4',
  policy: effectivePolicy({ maxBytes: 5 * 1024 ** 3, contentTypes: ['video/*'] }, { writeOnce: true })
}
const ref = { uploadId: plan.uploadId, bucket: plan.bucket, key: plan.key }

t.test('a token verifies for its upload, bucket and key, on any instance with the same secret', async (t) => {
  const now = Date.UTC(2026, 0, 1)
  const token = createUploadTokens('secret-a').issue(plan, now)
  t.match(token, new RegExp(UPLOAD_TOKEN_PATTERN), 'the documented form (base64url)')
  t.notOk(token.includes('secret-a'))
  const verified = createUploadTokens('secret-a').verify(token, ref, now)
  t.same(verified, { ...plan, expiresAt: now / 1000 + UPLOAD_TOKEN_LIFETIME_SECONDS }, 'a fresh instance (a restart, another instance) reads it back')
  t.equal(createUploadTokens('secret-b').verify(token, ref, now), undefined, 'another storage secret: refused')
  for (const other of [{ uploadId: 'x' }, { bucket: 'archive' }, { key: 'users/alice/other.mp4' }]) {
    t.equal(createUploadTokens('secret-a').verify(token, { ...ref, ...other }, now), undefined, `another ${Object.keys(other)[0] as string}`)
  }
  t.equal(createUploadTokens('secret-a').verify(token, ref, now + UPLOAD_TOKEN_LIFETIME_SECONDS * 1000 - 1000)?.uploadId, plan.uploadId, 'valid until the upload\'s 7 days are up')
  t.equal(createUploadTokens('secret-a').verify(token, ref, now + UPLOAD_TOKEN_LIFETIME_SECONDS * 1000), undefined, 'expired after')
})

t.test('every bound field is covered by the MAC', async (t) => {
  const tokens = createUploadTokens('secret-a')
  const token = tokens.issue(plan)
  const [version, payload, mac] = token.split('.') as [string, string, string]
  const fields = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>
  const changes: Record<string, unknown> = { u: 'x', b: 'archive', k: 'users/bob/a.mp4', s: 1, p: 5 * 1024 ** 2, t: 'text/html', m: 10, c: [], w: false, e: 9_999_999_999 }
  t.same(Object.keys(changes).sort(), Object.keys(fields).sort(), 'every field is tried')
  for (const [field, value] of Object.entries(changes)) {
    const altered = `${version}.${Buffer.from(JSON.stringify({ ...fields, [field]: value })).toString('base64url')}.${mac}`
    t.equal(tokens.verify(altered, field === 'u' || field === 'b' || field === 'k' ? { uploadId: fields.u as string, bucket: fields.b as string, key: fields.k as string } : ref), undefined, `${field} altered`)
  }
  for (const broken of ['', 'v1', `v2.${payload}.${mac}`, `v1.${payload}`, `v1.${payload}.${mac}x`, `v1.${payload}x.${mac}`, `v1..${mac}`]) {
    t.equal(tokens.verify(broken, ref), undefined, `malformed: ${broken.slice(0, 12)}…`)
  }
})
