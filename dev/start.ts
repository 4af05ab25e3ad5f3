/**
 * `npm run dev`: r2-signer on embedded defaults, with no account or external service.
 * Starts an in-memory S3-compatible store (seeded with public/hello.txt), the
 * reference permission service, and r2-signer itself, then prints a sample token
 * and curl commands that obtain a URL and use it. Any variable from docs/configuration.md
 * set in the environment overrides the default here. A bad or taken port, or an
 * invalid variable, stops it with one line naming the variable to change.
 */
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { buildApp } from '../src/app.js'
import { ConfigError } from '../src/config/config.js'
import { startS3Emulator } from './s3-emulator.js'
import { devLogStream } from './log-stream.js'
import { devPort, DevStartError, listenOn } from './ports.js'
import { mintToken, removeSession, sessionFile, writeSession } from './session.js'
import { buildPermissionService } from '../examples/permission-service/server.js'
import { loadPolicy } from '../examples/permission-service/policy.js'
import { buildMediaApp } from '../examples/media-app/server.js'
import { samplePdf } from '../examples/media-app/sample-pdf.js'

const env = process.env
const host = '127.0.0.1'
const bucket = env.S3_BUCKET ?? 'media'
const jwtSecret = env.JWT_SECRET || randomBytes(32).toString('base64url')
const jwtIssuer = env.JWT_ISSUER || undefined
const jwtAudience = env.JWT_AUDIENCE || undefined
const storageCredentials = { accessKeyId: 'dev-access-key', secretAccessKey: randomBytes(24).toString('base64url') }

/** Starts everything; what the person can fix by changing a variable is thrown as DevStartError or ConfigError. */
async function start () {
  const ports = {
    storage: devPort(env, 'DEV_S3_PORT', 9000),
    permissions: devPort(env, 'DEV_PERMISSIONS_PORT', 8081),
    example: devPort(env, 'DEV_EXAMPLE_PORT', 3000)
  }

  const storage = await listenOn('DEV_S3_PORT', 'the in-memory S3 store', ports.storage, async () => await startS3Emulator({
    host,
    port: ports.storage,
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
  }))

  const policyFile = fileURLToPath(new URL('../examples/permission-service/policy.json', import.meta.url))
  const permissionService = await buildPermissionService({ policy: await loadPolicy(policyFile), jwtSecret, logger: false })
  const permissionsUrl = (await listenOn('DEV_PERMISSIONS_PORT', 'the permission service', ports.permissions,
    async () => await permissionService.listen({ host, port: ports.permissions }))) + '/check'

  const app = await buildApp({
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
    },
    // Pretty, and without the docs page's asset requests: the banner below stays readable.
    logStream: devLogStream()
  })
  await app.ready()
  const base = await listenOn('PORT', 'r2-signer', app.config.port, async () => await app.listen({ host: app.config.host, port: app.config.port }))

  // The example caller backend and its page (examples/media-app); DEV_EXAMPLE=off leaves it out.
  const mediaApp = env.DEV_EXAMPLE === 'off'
    ? undefined
    : await buildMediaApp({
      signerUrl: base,
      jwtSecret,
      jwtIssuer,
      jwtAudience,
      tasks: [{ taskId: 'T-1', title: 'Welcome to the media desk', summary: 'Upload a video, stream it, then read this brief.', pdfKey: 'public/tasks/T-1/brief.pdf' }]
    })
  const mediaAppUrl = mediaApp && await listenOn('DEV_EXAMPLE_PORT', 'the example media app', ports.example,
    async () => await mediaApp.listen({ host, port: ports.example }))
  return { storage, permissionService, permissionsUrl, app, base, mediaApp, mediaAppUrl }
}

let started: Awaited<ReturnType<typeof start>>
try {
  started = await start()
} catch (error) {
  if (!(error instanceof DevStartError) && !(error instanceof ConfigError)) throw error
  process.stderr.write(`npm run dev: ${error.message}\n`)
  process.exit(1)
}
const { storage, permissionService, permissionsUrl, app, base, mediaApp, mediaAppUrl } = started

// For `npm run token -- <subject>`: removed again when dev mode stops.
const session = sessionFile(env)
writeSession(session, { pid: process.pid, signerUrl: base, jwtSecret, issuer: jwtIssuer, audience: jwtAudience })
process.once('exit', () => removeSession(session))
const token = mintToken({ jwtSecret, issuer: jwtIssuer, audience: jwtAudience }, 'alice')

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
A token for another subject (bob, say), in another terminal:
  export TOKEN=$(npm run -s token -- bob)

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
