/**
 * `npm run openapi`: writes openapi/openapi.json and openapi/openapi.yaml from the
 * route schemas. Commit both; test/openapi/document.test.ts fails when they are stale.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateOpenApi, OPENAPI_JSON_FILE, OPENAPI_YAML_FILE } from './openapi-document.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const { json, yaml, document } = await generateOpenApi()
for (const [file, text] of [[OPENAPI_JSON_FILE, json], [OPENAPI_YAML_FILE, yaml]] as const) {
  await mkdir(dirname(root + file), { recursive: true })
  await writeFile(root + file, text)
}
const paths = Object.keys(document.paths as object)
const schemas = Object.keys((document.components as { schemas: object }).schemas)
process.stdout.write(`wrote ${OPENAPI_JSON_FILE} and ${OPENAPI_YAML_FILE}: ${paths.length} paths (${paths.join(', ')}), ` +
  `${schemas.length} schemas (${schemas.join(', ')})\n`)
