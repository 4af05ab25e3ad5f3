/**
 * The Dockerfile, without a Docker engine: its COPY/RUN steps are replayed in a clean temp
 * folder (one folder per stage standing for its "/"), copying from the build context what
 * the Dockerfile copies, filtered by .dockerignore as Docker filters it, and running the same
 * npm steps (with the machine's npm cache, --prefer-offline). The production server is then
 * started from the runtime stage's folder as the image's CMD would start it, against the
 * real test storage and a permission stub. Plus the image's invariants: a slim Debian base
 * of the project's Node major (.nvmrc, which engines and @types/node follow),
 * NODE_ENV=production, a non-root USER, EXPOSE = the default PORT, an exec-form CMD
 * whose target exists, no dev dependency at runtime, nothing secret in the context or the
 * image, and a .dockerignore that keeps node_modules, .git and test artifacts out.
 */
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, posix, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { EnvSchema, SECRET_ENV_NAMES, type EnvName } from '../../src/config/env-schema.js'
import { startPermissionStub } from '../helpers/permission-stub.js'
import { startServerProcess } from '../helpers/server-process.js'
import { createTestBucket, testStorage } from '../helpers/storage.js'
import { bearer, tokenFor, TEST_JWT_SECRET } from '../helpers/tokens.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** A variable's default in the env schema. */
const schemaDefault = (name: EnvName) => (EnvSchema.properties[name] as unknown as { default?: unknown }).default
const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
const DOCKERIGNORE = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string }, dependencies: Record<string, string>, devDependencies: Record<string, string> }
/** The Node major the project runs on: scripts/use-node.sh installs it, the image is built on it. */
const NODE_MAJOR = readFileSync(join(ROOT, '.nvmrc'), 'utf8').trim()

// Two npm ci runs and a TypeScript build: well beyond the default per-file timeout.
t.setTimeout(300_000)

// ---------------------------------------------------------------- Dockerfile parsing

interface Instruction { op: string, flags: Record<string, string>, args: string, line: number }
interface Stage { name: string, base: string, instructions: Instruction[] }

/** Instructions with continuation lines joined, comments and parser directives dropped. */
function parseDockerfile (text: string): Stage[] {
  const instructions: Instruction[] = []
  let pending = ''
  let startLine = 0
  text.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd()
    if (pending === '' && (line.trim() === '' || line.trim().startsWith('#'))) return
    if (pending === '') startLine = index + 1
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' '
      return
    }
    const full = (pending + line).trim()
    pending = ''
    const [, op = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(full) ?? []
    const flags: Record<string, string> = {}
    let args = rest
    for (let m = /^--([a-z-]+)=(\S+)\s+/.exec(args); m !== null; m = /^--([a-z-]+)=(\S+)\s+/.exec(args)) {
      flags[m[1] as string] = m[2] as string
      args = args.slice(m[0].length)
    }
    instructions.push({ op: op.toUpperCase(), flags, args: args.trim(), line: startLine })
  })
  const stages: Stage[] = []
  for (const instruction of instructions) {
    if (instruction.op === 'FROM') {
      const [base = '', as, name] = instruction.args.split(/\s+/)
      stages.push({ name: as?.toUpperCase() === 'AS' && name !== undefined ? name : String(stages.length), base, instructions: [] })
    } else {
      const stage = stages.at(-1)
      if (stage === undefined) throw new Error(`Dockerfile line ${instruction.line}: ${instruction.op} before FROM`)
      stage.instructions.push(instruction)
    }
  }
  return stages
}

// ---------------------------------------------------------------- .dockerignore, as Docker reads it

interface IgnoreRule { regex: RegExp, negate: boolean }

/** moby/patternmatcher semantics: Go filepath.Match per segment plus `**`, last match wins, a matched directory excludes its contents. */
function parseDockerignore (text: string): IgnoreRule[] {
  return text.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#')).map((line) => {
    const negate = line.startsWith('!')
    const pattern = posix.normalize((negate ? line.slice(1) : line).trim()).replace(/^\/+/, '').replace(/\/+$/, '')
    let regex = ''
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern[i] as string
      if (c === '*' && pattern[i + 1] === '*') {
        // `**/` matches zero or more directories; a trailing `**` matches everything below.
        if (pattern[i + 2] === '/') { regex += '(?:.*/)?'; i += 2 } else { regex += '.*'; i += 1 }
      } else if (c === '*') regex += '[^/]*'
      else if (c === '?') regex += '[^/]'
      else if (c === '[') {
        const end = pattern.indexOf(']', i)
        regex += pattern.slice(i, end + 1).replace(/^\[!/, '[^')
        i = end
      } else regex += c.replace(/[.+^${}()|\\]/g, '\\$&')
    }
    return { regex: new RegExp(`^${regex}$`), negate }
  })
}

function ignored (rules: IgnoreRule[], path: string): boolean {
  const segments = path.split('/')
  const candidates = segments.map((_, i) => segments.slice(0, i + 1).join('/'))
  let result = false
  for (const rule of rules) {
    if (candidates.some((candidate) => rule.regex.test(candidate))) result = !rule.negate
  }
  return result
}

// ---------------------------------------------------------------- replay

function walk (dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    return entry.isDirectory() ? walk(path, base) : [relative(base, path).split(sep).join('/')]
  })
}

function run (command: string, cwd: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('sh', ['-c', command], { cwd, env, timeout: 240_000, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error === null) resolve()
      else reject(new Error(`\`${command}\` failed in ${cwd}: ${error.message}\n${(stdout + stderr).slice(-3000)}`))
    })
  })
}

/** The RUN steps the replay knows how to run: npm installs and scripts, joined by &&. */
const NPM_STEP = /^npm (?:ci|run [a-z:-]+)(?: --[a-z-]+(?:=\S+)?)*$/

const rules = parseDockerignore(DOCKERIGNORE)
const stages = parseDockerfile(DOCKERFILE)

t.test('the Dockerfile: stages and invariants', async (t) => {
  t.same(stages.map((s) => s.name), ['build', 'runtime'], 'a build stage and a runtime stage')
  t.match(NODE_MAJOR, /^\d+$/, '.nvmrc names a Node major')
  for (const stage of stages) t.equal(stage.base, `node:${NODE_MAJOR}-trixie-slim`, `${stage.name}: Node ${NODE_MAJOR} on Debian 13 slim`)
  t.equal(PACKAGE.engines.node, `>=${NODE_MAJOR}`, 'engines: the same major')
  t.match(PACKAGE.devDependencies['@types/node'], new RegExp(`^\\^${NODE_MAJOR}\\.`), '@types/node: the same major')
  t.ok(Number(process.versions.node.split('.')[0]) >= Number(NODE_MAJOR), `the suite runs on Node ${NODE_MAJOR} or later (${process.version}): scripts/test.sh installs it`)
  const runtime = stages.at(-1) as Stage
  const ops = (op: string) => runtime.instructions.filter((i) => i.op === op)

  t.ok(ops('ENV').some((i) => /^NODE_ENV=production$/.test(i.args)), 'NODE_ENV=production')
  const users = ops('USER')
  t.ok(users.length > 0, 'a USER')
  t.notMatch(users.at(-1)?.args, /^(root|0)(:|$)/, 'the last USER is not root')
  const cmd = ops('CMD').at(-1)
  t.ok(cmd !== undefined && users.at(-1) !== undefined && (users.at(-1) as Instruction).line < cmd.line, 'USER comes before CMD')
  const cmdArgs = JSON.parse(cmd?.args ?? 'null') as string[] | null
  t.equal(cmdArgs?.[0], 'node', 'exec-form CMD: node is PID 1 and receives SIGTERM')
  t.equal(cmdArgs?.at(-1), 'dist/server.js', 'CMD runs dist/server.js')
  t.ok(cmdArgs?.slice(1, -1).every((flag) => /^--[a-z-]+=\d+$/.test(flag)), `between them only node flags (${cmdArgs?.join(' ') ?? ''})`)
  t.ok(cmdArgs?.some((flag) => flag.startsWith('--max-old-space-size=')), 'a heap limit: RSS stays bounded under load (docs/performance.md)')
  t.same(ops('EXPOSE').map((i) => i.args), [String(schemaDefault('PORT'))], 'EXPOSE is the default PORT')
  t.ok(runtime.instructions.filter((i) => i.op === 'COPY' && i.flags.from === undefined).every((i) => /^package\.json package-lock\.json \.\/$/.test(i.args)),
    'the runtime stage takes only the package files from the context (dist comes from the build stage)')
  t.ok(runtime.instructions.some((i) => i.op === 'RUN' && /npm ci\b.*--omit=dev/.test(i.args)), 'runtime: npm ci --omit=dev')

  const allArgs = stages.flatMap((s) => s.instructions).filter((i) => i.op === 'ENV' || i.op === 'ARG').map((i) => i.args).join(' ')
  for (const name of SECRET_ENV_NAMES) t.notOk(new RegExp(`\\b${name}(_FILE)?\\b`).test(allArgs), `no ${name} baked in (ENV/ARG)`)
  t.notMatch(DOCKERFILE, /COPY\s+(--\S+\s+)*\.\s/, 'no `COPY . .`: only what is needed')
})

t.test('.dockerignore keeps dependencies, VCS, test artifacts and secrets out of the context', async (t) => {
  for (const path of [
    'node_modules/fastify/package.json', 'dist/server.js', '.git/HEAD', '.git/config', 'test/config.test.ts',
    'test-artifacts/tap.txt', '.tap/processinfo/x.json', 'coverage/lcov.info', '.env', '.env.production', 'src/.env.local',
    'certs/server.key', 'keys/jwt.pem', 'deploy/id_rsa', '.npmrc', 'npm-debug.log', 'tmp/scratch.ts', '.dev-data/x', 'secrets/s3'
  ]) t.ok(ignored(rules, path), `${path} excluded`)
  for (const path of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src/server.ts', 'src/config/secret-files.ts']) {
    t.notOk(ignored(rules, path), `${path} included`)
  }
  // The matcher itself, on Docker's documented examples.
  const docs = parseDockerignore('*/temp*\n*/*/temp*\ntemp?\n**/*.md\n!README.md')
  t.ok(ignored(docs, 'somedir/temporary.txt'))
  t.ok(ignored(docs, 'somedir/subdir/temporary.txt'))
  t.ok(ignored(docs, 'tempa'))
  t.ok(ignored(docs, 'docs/guide.md'))
  t.notOk(ignored(docs, 'README.md'), 'exceptions')
})

t.test('replaying the build, then starting the production server from the runtime stage', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'r2-signer-docker-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  const stageRoot = (name: string) => join(tmp, 'stages', name)
  const copiedFromContext: string[] = []
  const finalState = { workdir: '/', env: {} as Record<string, string> }

  for (const stage of stages) {
    let workdir = '/'
    const env: Record<string, string> = {}
    const root = stageRoot(stage.name)
    mkdirSync(root, { recursive: true })
    const inStage = (path: string) => join(root, posix.resolve(workdir, path))

    for (const instruction of stage.instructions) {
      const where = `${stage.name}, Dockerfile line ${instruction.line}`
      switch (instruction.op) {
        case 'WORKDIR':
          workdir = posix.resolve(workdir, instruction.args)
          mkdirSync(inStage('.'), { recursive: true })
          break
        case 'ENV':
          for (const [, name, value] of instruction.args.matchAll(/(\w+)=(\S+)/g)) env[name as string] = value as string
          break
        case 'COPY': {
          const parts = instruction.args.split(/\s+/)
          const dest = parts.pop() as string
          t.ok(parts.every((src) => !/[*?[]/.test(src)), `${where}: COPY sources are plain paths`)
          const from = instruction.flags.from
          const toDir = dest.endsWith('/') || parts.length > 1
          for (const src of parts) {
            const source = from === undefined ? join(ROOT, src) : join(stageRoot(from), posix.resolve('/', src))
            if (from === undefined) t.notOk(ignored(rules, posix.normalize(src)), `${where}: ${src} is not excluded by .dockerignore (Docker would not find it)`)
            t.ok(existsSync(source), `${where}: ${src} exists`)
            const target = toDir ? join(inStage(dest), posix.basename(src)) : inStage(dest)
            if (statSync(source).isDirectory()) {
              for (const file of walk(source)) {
                const contextPath = posix.join(posix.normalize(src), file)
                if (from === undefined && ignored(rules, contextPath)) continue
                if (from === undefined) copiedFromContext.push(contextPath)
                mkdirSync(dirname(join(inStage(dest), file)), { recursive: true })
                copyFileSync(join(source, file), join(inStage(dest), file))
              }
            } else {
              if (from === undefined) copiedFromContext.push(posix.normalize(src))
              mkdirSync(dirname(target), { recursive: true })
              copyFileSync(source, target)
            }
          }
          break
        }
        case 'RUN': {
          const steps = instruction.args.split('&&').map((step) => step.trim())
          const known = steps.every((step) => NPM_STEP.test(step))
          t.ok(known, `${where}: \`${instruction.args}\` is a step this replay knows (npm ci / npm run)`)
          if (!known) return
          t.ok(instruction.flags.mount === undefined || /^type=cache,target=\/root\/\.npm$/.test(instruction.flags.mount), `${where}: only the npm cache is mounted`)
          await run(instruction.args, inStage('.'), {
            PATH: process.env.PATH ?? '',
            HOME: process.env.HOME ?? tmp,
            ...env,
            // The image's cache mount stands for this machine's npm cache.
            npm_config_prefer_offline: 'true',
            npm_config_update_notifier: 'false'
          })
          t.pass(`${where}: ran \`${instruction.args}\``)
          break
        }
        case 'USER': case 'EXPOSE': case 'CMD': case 'HEALTHCHECK': case 'LABEL':
          break
        default:
          t.fail(`${where}: ${instruction.op} is not replayed by this test; teach it`)
          return
      }
    }
    finalState.workdir = workdir
    finalState.env = env
  }

  const app = join(stageRoot(stages.at(-1)?.name as string), finalState.workdir)
  t.ok(existsSync(join(app, 'dist/server.js')), 'the CMD target dist/server.js exists')
  t.notOk(existsSync(join(app, 'src')), 'no TypeScript sources in the runtime stage')

  const secretLike = /(^|\/)(\.env(\..*)?|\.npmrc|.*\.(pem|key|p12|pfx)|id_(rsa|ed25519).*)$/
  t.same(copiedFromContext.filter((path) => secretLike.test(path)), [], 'nothing secret-looking copied from the context')
  t.ok(copiedFromContext.every((path) => !path.includes('node_modules/') && !path.startsWith('test/')), 'no node_modules or tests copied from the context')

  const installed = new Set(readdirSync(join(app, 'node_modules')).flatMap((name) => name.startsWith('@') ? readdirSync(join(app, 'node_modules', name)).map((sub) => `${name}/${sub}`) : [name]))
  for (const name of Object.keys(PACKAGE.dependencies)) t.ok(installed.has(name), `runtime dependency ${name} installed`)
  // Dev dependencies that nothing at runtime needs (the lockfile marks them dev-only; fast-jwt, say, is also @fastify/jwt's).
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> }
  const devOnly = Object.keys(PACKAGE.devDependencies).filter((name) => lock.packages[`node_modules/${name}`]?.dev === true)
  t.ok(devOnly.includes('typescript') && devOnly.includes('tap'), 'the lockfile marks dev-only packages')
  for (const name of devOnly) t.notOk(installed.has(name), `dev-only dependency ${name} not installed`)

  // The production server, as the image runs it: the CMD's `node <flags> dist/server.js` in WORKDIR, env only.
  const storage = testStorage()
  const bucket = await createTestBucket('docker')
  const stub = await startPermissionStub()
  t.teardown(stub.close)
  const server = startServerProcess({
    args: (JSON.parse((stages.at(-1) as Stage).instructions.filter((i) => i.op === 'CMD').at(-1)?.args ?? '[]') as string[]).slice(1),
    cwd: app,
    inheritEnv: ['PATH'],
    env: {
      ...finalState.env,
      HOST: '127.0.0.1',
      PORT: '0',
      S3_ENDPOINT: storage.endpoint,
      S3_REGION: storage.region,
      S3_ACCESS_KEY_ID: storage.accessKeyId,
      S3_SECRET_ACCESS_KEY: storage.secretAccessKey,
      S3_BUCKET: bucket,
      JWT_SECRET: TEST_JWT_SECRET,
      PERMISSIONS_URL: stub.url
    },
    listenTimeoutMs: 20_000
  })
  t.teardown(() => server.stop('SIGKILL'))
  const address = await server.listening
  t.ok(address, `the server started from the runtime stage (stderr: ${server.stderr().slice(0, 500)})`)
  if (address === undefined) return

  const healthz = await fetch(`${address}/healthz`)
  t.equal(healthz.status, 200, 'GET /healthz → 200')
  t.same(await healthz.json(), { status: 'ok' })
  t.equal(server.stderr(), '', 'nothing on stderr: no runtime warning at start (the AWS SDK warns on an unsupported Node)')
  const readyz = await fetch(`${address}/readyz`)
  const readyzBody = await readyz.json() as { status: string, checks: unknown, storageSafety: unknown }
  t.same({ status: readyz.status, body: { status: readyzBody.status, checks: readyzBody.checks } }, { status: 200, body: { status: 'ready', checks: { storage: 'ok', permissions: 'ok', clock: 'ok' } } }, 'GET /readyz → 200 against the real storage')
  t.match(readyzBody.storageSafety, { mode: 'refuse' }, 'with the storage self-test beside it')
  const signed = await fetch(`${address}/v1/download-urls`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(tokenFor('alice')) }, body: '{"key":"a.txt"}' })
  t.equal(signed.status, 200, 'a URL is signed with the runtime dependencies alone')
  await signed.arrayBuffer()
  const metrics = await fetch(`${address}/metrics`)
  t.match(await metrics.text(), /r2signer_signed_urls_total\{operation="GetObject"\} 1/, '/metrics counts it')

  t.equal((await server.stop()).code, 0, 'SIGTERM: exit 0')
})
