import { readFileSync } from 'node:fs'

/**
 * The fixed parts of r2-signer's OpenAPI document: everything that is not
 * derived from the route schemas. Nothing here may depend on the environment or
 * the machine: the committed openapi/openapi.json is compared with what the app
 * generates (test/openapi/document.test.ts).
 */
export const OPENAPI_VERSION = '3.1.0'

/** `src/openapi/` and `dist/openapi/` are both two levels below package.json. */
const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

export const SECURITY_SCHEMES = {
  bearerAuth: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'The end user\'s JWT, as issued by your identity provider. Claims `sub` and `exp` are required; ' +
      'the algorithm is pinned to the configured key (HS256 secret, RS256/ES256/EdDSA public key, or a JWKS), and ' +
      '`iss`/`aud` are checked when configured. r2-signer forwards the header verbatim to the permission service.'
  },
  metricsToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'The METRICS_TOKEN configured on r2-signer (not a user token). Needed by /metrics only when METRICS_TOKEN is set.'
  },
  adminToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'The ADMIN_TOKEN configured on r2-signer (not a user token). The /admin/v1 routes exist only when ADMIN_TOKEN is set.'
  }
} as const

/** Tags in display order. A route may use another tag; it is then listed after these, without a description. */
export const TAGS = [
  { name: 'signed URLs', description: 'Presigned URLs for one object and one method: downloads (GET, HEAD) and single-request uploads (PUT).' },
  { name: 'multipart uploads', description: 'Large uploads in parts (up to 10,000 parts): start an upload, sign URLs for its parts, list the parts uploaded, then complete or abort it.' },
  { name: 'admin', description: 'The operator\'s API (only when ADMIN_TOKEN is set): revoke a subject or a key prefix on every instance at once.' },
  { name: 'operations', description: 'Probes and metrics for orchestrators, load balancers and Prometheus. No user token.' }
]

export const INFO = {
  title: 'r2-signer',
  version: packageJson.version,
  summary: 'Short-lived SigV4 presigned URLs for Cloudflare R2 and S3, behind the user\'s JWT and your permission service.',
  description: [
    'r2-signer verifies the caller\'s JWT, asks your permission service whether the token\'s subject may `read` or `write` ' +
      'the object (see the permission service contract, `openapi/permission-service.json`), and answers with a presigned URL ' +
      'that works for exactly one object and one method until it expires. Signing is local: no call to storage.',
    '**Errors** are [RFC 9457](https://www.rfc-editor.org/rfc/rfc9457) problem details (`application/problem+json`) with a ' +
      'stable machine-readable `code`; branch on `code`, not on `detail`.',
    '**Every response** carries `Cache-Control: no-store` (answers hold signed URLs) and `X-Request-Id` (yours, if you ' +
      'sent a plain token of at most 128 characters, else a fresh UUID).',
    '**Request bodies** are JSON (`Content-Type: application/json`), at most 64 KiB; unknown fields are rejected.',
    '**Custom string formats**: `object-key` (1 to 1024 UTF-8 bytes of well-formed Unicode, no control characters, no ' +
      'leading `/`, no empty, `.` or `..` segments) and `filename` (well-formed Unicode without control characters, `/` or `\\`). ' +
      'Client generators treat them as plain strings; the service enforces them and answers `400` (`INVALID_KEY`, `INVALID_REQUEST`).'
  ].join('\n\n'),
  license: { name: 'MIT', identifier: 'MIT' }
}

/**
 * Where the API is served. A variable rather than a fixed host, since every
 * deployment has its own; the default is where `npm run dev` listens.
 */
export const SERVERS = [{
  url: '{origin}',
  description: 'Your r2-signer deployment',
  variables: {
    origin: {
      default: 'http://127.0.0.1:8080',
      description: 'Scheme, host and port of r2-signer (`npm run dev` listens on http://127.0.0.1:8080).'
    }
  }
}]
