/**
 * Generates r2-signer's OpenAPI document exactly as the app does, from a fixed
 * embedded environment: no network, no secrets, nothing machine-specific.
 * Used by `npm run openapi` (scripts/export-openapi.ts) and test/openapi/document.test.ts.
 */
import { stringify } from 'yaml'
import { buildApp } from '../src/app.js'
import type { RawEnv } from '../src/config/config.js'

/** Enough configuration to build the app; nothing is contacted (port 9 is "discard"). */
export const OPENAPI_ENV: RawEnv = {
  LOG_LEVEL: 'silent',
  S3_ENDPOINT: 'http://127.0.0.1:9',
  S3_ACCESS_KEY_ID: 'openapi-export',
  S3_SECRET_ACCESS_KEY: 'openapi-export',
  S3_BUCKET: 'media',
  JWT_SECRET: 'openapi-export-secret-not-used-for-anything',
  PERMISSIONS_URL: 'http://127.0.0.1:9/check',
  // The admin routes exist only with a token: the document describes them.
  ADMIN_TOKEN: 'openapi-export-admin-token-not-used-for-anything'
}

/** Where the committed documents live, relative to the repository root. */
export const OPENAPI_JSON_FILE = 'openapi/openapi.json'
export const OPENAPI_YAML_FILE = 'openapi/openapi.yaml'

export interface GeneratedOpenApi {
  document: Record<string, unknown>
  json: string
  yaml: string
}

/** Builds the app (never listening), and serializes `app.swagger()` as JSON and YAML. */
export async function generateOpenApi (env: RawEnv = {}): Promise<GeneratedOpenApi> {
  // The document never needs storage: no self-test.
  const app = await buildApp({ env: { ...OPENAPI_ENV, ...env }, storageSelfTest: false })
  try {
    await app.ready()
    const document = JSON.parse(JSON.stringify(app.swagger())) as Record<string, unknown>
    return {
      document,
      json: JSON.stringify(document, null, 2) + '\n',
      yaml: stringify(document, { lineWidth: 0 })
    }
  } finally {
    await app.close()
  }
}
