/**
 * `npm run dev` and `npm run token`, as real processes: a bad or taken port stops dev mode
 * with one line naming the variable to change; the logs are pretty-printed without the docs
 * page's asset requests; `npm run token -- bob` mints a token the running dev server accepts
 * (and its permission service treats as bob's), through the session file dev mode removes
 * when it stops.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { startServerProcess, type ServerProcess } from './helpers/server-process.js'

const tmp = mkdtempSync(join(tmpdir(), 'r2-signer-dev-'))
t.teardown(() => rmSync(tmp, { recursive: true, force: true }))

/** Every port on "any free one" unless overridden; the session file in a temp folder, not the repository's. */
function startDev (env: Record<string, string>, sessionFile = join(tmp, 'unused-session.json')): ServerProcess {
  return startServerProcess({
    args: ['--import=tsx', 'dev/start.ts'],
    env: { PORT: '0', DEV_S3_PORT: '0', DEV_PERMISSIONS_PORT: '0', DEV_EXAMPLE_PORT: '0', DEV_EXAMPLE: 'off', DEV_SESSION_FILE: sessionFile, ...env },
    killAfterMs: 60_000
  })
}

function runToken (args: string[], env: Record<string, string>): ServerProcess {
  return startServerProcess({ args: ['--import=tsx', 'dev/token.ts', ...args], env, killAfterMs: 30_000 })
}

/** Asserts the process exited 1 with exactly one line on stderr (no stack trace) and no dev banner; returns the line. */
async function oneLineFailure (t: Test, child: ServerProcess, what: string): Promise<string> {
  const { code } = await child.exited
  const lines = child.stderr().split('\n').filter((line) => line !== '')
  t.equal(code, 1, `${what}: exit 1`)
  t.equal(lines.length, 1, `${what}: one line on stderr (got ${JSON.stringify(child.stderr().slice(0, 600))})`)
  t.notMatch(child.stderr(), /^\s+at /m, `${what}: no stack trace`)
  t.notMatch(child.stdout(), /dev mode|TOKEN=/, `${what}: no banner, no token on stdout`)
  return lines[0] ?? ''
}

async function takenPort (t: Test): Promise<number> {
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (server.address() as { port: number }).port
}

/** Waits until `done(stdout)` holds, the process exits, or 40 s pass. */
async function waitForStdout (child: ServerProcess, done: (stdout: string) => boolean): Promise<boolean> {
  const deadline = Date.now() + 40_000
  let exited = false
  void child.exited.then(() => { exited = true })
  while (!done(child.stdout())) {
    if (exited || Date.now() > deadline) return false
    await sleep(50)
  }
  return true
}

const PORT_VARIABLES = ['DEV_S3_PORT', 'DEV_PERMISSIONS_PORT', 'PORT', 'DEV_EXAMPLE_PORT'] as const

t.test('an invalid port: one line naming the variable', async (t) => {
  const cases = PORT_VARIABLES.flatMap((name) => ['abc', '70000'].map((value) => ({ name, value })))
  await Promise.all(cases.map(async ({ name, value }) => {
    // The example app is only started (and its port only read) when it is on.
    const line = await oneLineFailure(t, startDev({ DEV_EXAMPLE: 'on', [name]: value }), `${name}=${value}`)
    t.match(line, new RegExp(`\\b${name}\\b`), `${name}=${value}: the line names ${name}`)
  }))
})

t.test('a taken port: one line naming the variable to change', async (t) => {
  const port = await takenPort(t)
  for (const name of PORT_VARIABLES) {
    const line = await oneLineFailure(t, startDev({ DEV_EXAMPLE: 'on', [name]: String(port) }), `${name}=${port} (taken)`)
    t.equal(line, line.match(new RegExp(`^npm run dev: port ${port} for .+ is already in use: set ${name} to another port \\(0: any free port\\)$`))?.[0],
      `${name}: "${line}"`)
  }
})

t.test('the banner, the pretty logs without asset requests, and npm run token -- bob', async (t) => {
  const session = join(tmp, 'session.json')
  const dev = startDev({}, session)
  t.teardown(() => dev.stop('SIGKILL'))
  const ready = await waitForStdout(dev, (out) => /Alice may not write outside users\/alice\/[^\n]*\n[^\n]*\n/.test(out))
  t.ok(ready, `the banner is printed (stderr: ${dev.stderr().slice(0, 800)})`)
  if (!ready) return
  const base = /^ {2}r2-signer +(http:\/\/\S+)$/m.exec(dev.stdout())?.[1] as string
  const aliceToken = /^ {2}export TOKEN=(\S+)$/m.exec(dev.stdout())?.[1] as string
  t.match(dev.stdout(), /^ {2}export TOKEN=\$\(npm run -s token -- bob\)$/m, 'the banner says how to mint a token for another subject')
  t.equal(dev.stderr(), '', 'nothing on stderr: no warnings at start')
  t.equal(statSync(session).mode & 0o777, 0o600, 'the session file is readable by its owner only')

  const bannerEnd = dev.stdout().length
  const docs = await fetch(`${base}/docs/static/swagger-ui.css`)
  t.equal(docs.status, 200, 'a docs asset is served')
  await docs.arrayBuffer()
  const sign = (token: string, key: string) => fetch(`${base}/v1/upload-urls`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ key, contentType: 'text/plain', contentLength: 5 })
  })
  const aliceForBob = await sign(aliceToken, 'users/bob/x.txt')
  t.equal(aliceForBob.status, 403, 'alice may not write to users/bob/')
  await aliceForBob.arrayBuffer()

  // A token for bob, from another process, as a person in another terminal would get one.
  const token = runToken(['bob'], { DEV_SESSION_FILE: session })
  t.equal((await token.exited).code, 0, `npm run token -- bob: exit 0 (stderr: ${token.stderr()})`)
  const bobToken = token.stdout().trim()
  t.match(bobToken, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'one JWT on stdout, nothing else')
  const claims = JSON.parse(Buffer.from(bobToken.split('.')[1] as string, 'base64url').toString()) as { sub: string, iat: number, exp: number }
  t.equal(claims.sub, 'bob')
  t.equal(claims.exp - claims.iat, 12 * 3600, 'valid 12 hours, like alice\'s')
  const bobForBob = await sign(bobToken, 'users/bob/x.txt')
  t.equal(bobForBob.status, 200, 'r2-signer accepts bob\'s token and the permission service lets bob write users/bob/')
  t.match((await bobForBob.json() as { url: string }).url, /\/users\/bob\/x\.txt\?/)

  const logged = await waitForStdout(dev, (out) => (out.slice(bannerEnd).match(/request completed/g) ?? []).length >= 2)
  t.ok(logged, 'both API requests are logged')
  const logs = dev.stdout().slice(bannerEnd).split('\n').filter((line) => line !== '')
  t.ok(logs.every((line) => /^\[\d\d:\d\d:\d\d\] [A-Z]+: /.test(line)), `pretty-printed, one line each, not JSON:\n${logs.join('\n')}`)
  t.ok(logs.some((line) => line.includes('"route":"/v1/upload-urls"') && line.includes('"status":403')), 'alice\'s refused request is logged')
  t.notOk(logs.some((line) => line.includes('/docs')), 'the docs asset request is not logged')
  t.notOk(logs.some((line) => line.includes(aliceToken) || line.includes(bobToken)), 'no token in the logs')

  t.equal((await dev.stop()).code, 0, 'SIGTERM: exit 0')
  t.notOk(existsSync(session), 'the session file is removed when dev mode stops')
})

t.test('npm run token without a running dev server, or with a bad subject: one line', async (t) => {
  const noSession = { DEV_SESSION_FILE: join(tmp, 'no-such-session.json') }
  t.match(await oneLineFailure(t, runToken(['bob'], noSession), 'no dev server'), /no running `npm run dev` found/)
  t.match(await oneLineFailure(t, runToken([], noSession), 'no subject'), /give one subject/)
  t.match(await oneLineFailure(t, runToken(['bob smith'], { ...noSession, JWT_SECRET: 'x'.repeat(32) }), 'a bad subject'), /the subject must be/)
  // With JWT_SECRET set (a dev server started with it), no session is needed.
  const withSecret = runToken(['bob'], { ...noSession, JWT_SECRET: 'x'.repeat(32) })
  t.equal((await withSecret.exited).code, 0)
  t.match(withSecret.stdout(), /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'JWT_SECRET set: a token, no session needed')
})
