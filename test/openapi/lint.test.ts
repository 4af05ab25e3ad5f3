/**
 * Both OpenAPI documents lint clean with Redocly (openapi/redocly.yaml: recommended-strict, so
 * a warning fails too), offline: no telemetry, no update check. And the lint does catch
 * a broken document, so a clean result means something.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const root = fileURLToPath(new URL('../../', import.meta.url))
const noNetwork = fileURLToPath(new URL('../helpers/no-network.mjs', import.meta.url))

interface Run { code: number | null, output: string }

function run (command: string, args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...env } })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, output }))
  })
}

t.test('npm run lint:openapi passes', async (t) => {
  const { code, output } = await run('npm', ['run', '--silent', 'lint:openapi'], { npm_config_update_notifier: 'false' })
  t.equal(code, 0, `redocly lint exit code\n${output}`)
  t.match(output, /openapi\/openapi\.json: validated/)
  t.match(output, /openapi\/permission-service\.json: validated/)
  t.match(output, /Your API descriptions are valid/, 'valid')
  t.notMatch(output, /Validation failed|You have \d+ warning/, 'no error, no warning')
})

t.test('the lint makes no network connection', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'r2-signer-lint-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const log = join(dir, 'connections.log')
  await writeFile(log, '')
  // Without REDOCLY_TELEMETRY in the environment: openapi/redocly.yaml's `telemetry: off` must be enough.
  const env = { NODE_OPTIONS: `--import=${noNetwork}`, NO_NETWORK_LOG: log, REDOCLY_TELEMETRY: undefined }
  const { code, output } = await run(join(root, 'node_modules/.bin/redocly'), ['lint', '--config', 'openapi/redocly.yaml'], env)
  t.equal(code, 0, output)
  t.equal(await readFile(log, 'utf8'), '', 'no outgoing connection was attempted')
})

t.test('a broken document fails the lint', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'r2-signer-lint-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const document = JSON.parse(await readFile(join(root, 'openapi/openapi.json'), 'utf8')) as { paths: Record<string, Record<string, Record<string, unknown>>> }
  delete document.paths['/v1/download-urls']?.post?.summary
  const file = join(dir, 'broken.json')
  await writeFile(file, JSON.stringify(document))
  const { code, output } = await run(join(root, 'node_modules/.bin/redocly'), ['lint', file, '--config', join(root, 'openapi/redocly.yaml')], { REDOCLY_TELEMETRY: 'off' })
  t.not(code, 0, 'non-zero exit')
  t.match(output, /operation-summary/, 'names the rule')
})
