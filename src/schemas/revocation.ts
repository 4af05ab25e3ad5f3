import { Type } from 'typebox'
import { BucketName } from './common.js'

/** The admin API's revocations (src/routes/admin/revocations.ts, src/shared-state/revocations.ts). */

/** No control characters: a subject or prefix is compared as given, and logged. */
const PRINTABLE = '^[^\\u0000-\\u001f\\u007f]+$'
const Subject = Type.String({ minLength: 1, maxLength: 1024, pattern: PRINTABLE, description: 'The JWT `sub` whose URLs are refused.', examples: ['alice'] })
const KeyPrefix = Type.String({ minLength: 1, maxLength: 1024, pattern: PRINTABLE, description: 'Every object key starting with this is refused (a plain prefix, not a pattern).', examples: ['users/alice/'] })
const RevocationExpiresIn = Type.Integer({ minimum: 1, maximum: 31_536_000, description: 'Lifted by itself after this many seconds (at most a year); absent: until deleted.', examples: [3600] })

export const CreateRevocationRequest = Type.Union([
  Type.Object({ subject: Subject, expiresIn: Type.Optional(RevocationExpiresIn) }, { additionalProperties: false, title: 'SubjectRevocation' }),
  Type.Object({
    keyPrefix: KeyPrefix,
    bucket: Type.Optional({ ...BucketName, description: 'Only in this bucket; absent: in every bucket.' }),
    expiresIn: Type.Optional(RevocationExpiresIn)
  }, { additionalProperties: false, title: 'PrefixRevocation' })
], {
  $id: 'CreateRevocationRequest',
  description: 'What to cut off: a subject, or every key under a prefix (in one bucket or all). URLs already issued stay valid until they expire.',
  examples: [{ subject: 'alice', expiresIn: 3600 }, { keyPrefix: 'users/alice/', bucket: 'media' }]
})

export const Revocation = Type.Object({
  id: Type.String({ format: 'uuid', description: 'Names the revocation in DELETE /admin/v1/revocations/{id}.' }),
  subject: Type.Optional(Subject),
  keyPrefix: Type.Optional(KeyPrefix),
  bucket: Type.Optional({ ...BucketName, description: 'With keyPrefix: the only bucket concerned.' }),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'When it lifts by itself; absent: until deleted.' }))
}, {
  $id: 'Revocation',
  description: 'A revocation in force: no URL for its subject, or for keys under its prefix, on any instance.',
  examples: [{ id: '0b8f3c1e-5a63-4f4e-9d49-2f4a1f0c2b7d', subject: 'alice', createdAt: '2026-01-01T12:00:00.000Z', expiresAt: '2026-01-01T13:00:00.000Z' }]
})

export const RevocationList = Type.Object({
  revocations: Type.Array(Revocation, { description: 'Oldest first.' })
}, { $id: 'RevocationList', description: 'Every revocation in force.' })

export const RevocationParams = Type.Object({
  id: Type.String({ format: 'uuid', description: 'The revocation\'s id.' })
})
