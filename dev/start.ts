/**
 * `npm run dev`: r2-signer on embedded defaults, with no account or external service.
 * Starts an in-memory S3-compatible store (seeded with public/hello.txt), the
 * reference permission service, and r2-signer itself, then prints a sample token
 * and curl commands that obtain a URL and use it. Any variable from the README
 * set in the environment overrides the default here.
 */
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { buildApp } from '../src/app.js'
import { ConfigError } from '../src/config/config.js'
import { startS3Emulator } from './s3-emulator.js'
import { buildPermissionService } from '../examples/permission-service/server.js'
import { loadPolicy } from '../examples/permission-service/policy.js'
import { buildMediaApp } from '../examples/media-app/server.js'
import { samplePdf } from '../examples/media-app/sample-pdf.js'

const env = process.env
const host = '127.0.0.1'
const bucket = env.S3_BUCKET ?? 'media'
const jwtSecret = env.JWT_SECRET ?? randomBytes(32).toString('base64url')
const storageCredentials = { accessKeyId: 'dev-access-key', secretAccessKey: randomBytes(24).toString('base64url') }

const storage = await startS3Emulator({
  host,
  port: Number(env.DEV_S3_PORT ?? 9000),
  ...storageCredentials,
  region: 'auto',
  buckets: [bucket],
  seed: {
    [`${bucket}/public/hello.txt`]: { body: 'Hello from r2-signer!\n', contentType: 'text/plain; charset=utf-8' },
    // The example media app's task description (examples/media-app).
    [`${bucket}/public/tasks/T-1/brief.pdf`]: {
      body: samplePdf({ title: 'Welcome to the media desk', lines: ['This PDF came straight from storage with a presigned URL.', 'Its link stops working after five minutes.'] }),
      contentType: 'application/pdf'
    }
  }
})

const policyFile = fileURLToPath(new URL('../examples/permission-service/policy.json', import.meta.url))
const permissionService = await buildPermissionService({ policy: await loadPolicy(policyFile), jwtSecret, logger: false })
const permissionsUrl = (await permissionService.listen({ host, port: Number(env.DEV_PERMISSIONS_PORT ?? 8081) })) + '/check'

let app: Awaited<ReturnType<typeof buildApp>>
try {
  app = await buildApp({
    env: {
      PORT: '8080',
      HOST: host,
      S3_ENDPOINT: storage.endpoint,
      S3_ACCESS_KEY_ID: storageCredentials.accessKeyId,
      S3_SECRET_ACCESS_KEY: storageCredentials.secretAccessKey,
      S3_BUCKET: bucket,
      PERMISSIONS_URL: permissionsUrl,
      DOCS_ENABLED: 'true',
      ...env,
      JWT_SECRET: jwtSecret
    }
  })
  await app.ready()
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  process.stderr.write(`r2-signer: ${error.message}\n`)
  process.exit(1)
}
const base = await app.listen({ host: app.config.host, port: app.config.port })
const token = app.jwt.sign({ sub: 'alice' }, { expiresIn: '12h' })

// The example caller backend and its page (examples/media-app); DEV_EXAMPLE=off leaves it out.
const mediaApp = env.DEV_EXAMPLE === 'off'
  ? undefined
  : await buildMediaApp({
    signerUrl: base,
    jwtSecret,
    jwtIssuer: env.JWT_ISSUER || undefined,
    jwtAudience: env.JWT_AUDIENCE || undefined,
    tasks: [{ taskId: 'T-1', title: 'Welcome to the media desk', summary: 'Upload a video, stream it, then read this brief.', pdfKey: 'public/tasks/T-1/brief.pdf' }]
  })
const mediaAppUrl = mediaApp && await mediaApp.listen({ host, port: Number(env.DEV_EXAMPLE_PORT ?? 3000) })

const pick = 'node -p \'JSON.parse(require("fs").readFileSync(0, "utf8")).url\''
process.stdout.write(`
r2-signer dev mode (embedded defaults)
  r2-signer           ${base}
  permission service  ${permissionsUrl}   policy: examples/permission-service/policy.json
  S3 store (memory)   ${storage.endpoint}   bucket: ${bucket}
  API docs            ${app.config.docs.enabled ? `${base}/docs` : 'off (DOCS_ENABLED=false)'}   raw: ${base}/openapi.json
  example media app   ${mediaAppUrl ?? 'off (DEV_EXAMPLE=off)'}${mediaAppUrl ? '   examples/media-app: open it in a browser' : ''}

A token for subject "alice", valid 12 hours:
  export TOKEN=${token}

Download public/hello.txt:
  URL=$(curl -s -X POST ${base}/v1/download-urls -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"key":"public/hello.txt"}' | ${pick})
  curl -s "$URL"

Upload to users/alice/notes.txt, then read it back:
  URL=$(curl -s -X POST ${base}/v1/upload-urls -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"key":"users/alice/notes.txt","contentType":"text/plain","contentLength":8}' | ${pick})
  curl -s -X PUT -H 'content-type: text/plain' --data-binary 'my notes' "$URL"
  URL=$(curl -s -X POST ${base}/v1/download-urls -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"key":"users/alice/notes.txt"}' | ${pick})
  curl -s "$URL"

Alice may not write outside users/alice/ (expect 403):
  curl -s -X POST ${base}/v1/upload-urls -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"key":"users/bob/x.txt","contentType":"text/plain","contentLength":1}'
${mediaAppUrl ? `\nIn a browser: ${mediaAppUrl}  (sign in as alice: upload a file, stream a video, open the task's PDF)\n` : ''}
`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void Promise.allSettled([mediaApp?.close(), app.close(), permissionService.close(), storage.close()]).then(() => process.exit(0))
  })
}
