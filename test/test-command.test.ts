/**
 * scripts/test.sh's install decisions, on its dry path (`--dry-run` installs and runs nothing):
 * on a machine with nothing but a shell it would install every Debian package the suite needs
 * and Node from the npm registry; with TEST_S3_ENDPOINT it leaves Ceph out. And scripts/use-node.sh,
 * given a new enough Node, points at it instead of installing one.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

function run (command: string, args: string[], env: Record<string, string>): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: ROOT, env, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: unknown }).code ?? 1), stdout, stderr })
    })
  })
}

/** A PATH holding only the shell tools the scripts use: a machine with nothing else installed. */
function barePath (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'r2-signer-bare-path-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const tool of ['bash', 'tr', 'dirname', 'id', 'cat', 'uname', 'env']) symlinkSync(`/usr/bin/${tool}`, join(dir, tool))
  return dir
}

t.test('a machine with nothing installed: every package, and Node from the npm registry', async (t) => {
  const { code, stdout } = await run('/usr/bin/bash', ['scripts/test.sh', '--dry-run'], { PATH: barePath(t), CHROMIUM_PATH: '/nonexistent/chromium' })
  t.equal(code, 0)
  t.equal(stdout, 'apt-get install: radosgw ceph-mon ceph-osd chromium redis-server ffmpeg nodejs npm\n' +
    'Node: 26 from the npm registry (the machine has: none)\n')
})

t.test('TEST_S3_ENDPOINT set: no Ceph', async (t) => {
  const { code, stdout } = await run('/usr/bin/bash', ['scripts/test.sh', '--dry-run'], {
    PATH: barePath(t), CHROMIUM_PATH: '/nonexistent/chromium', TEST_S3_ENDPOINT: 'http://127.0.0.1:9'
  })
  t.equal(code, 0)
  t.match(stdout, /^apt-get install: chromium redis-server ffmpeg nodejs npm\n/)
})

t.test('use-node.sh with a new enough Node on PATH: that Node, nothing installed', async (t) => {
  // This suite runs on the project's Node (the dockerfile test checks that).
  const nodeDir = join(tmpdir(), `r2-signer-node-link-${process.pid}`)
  rmSync(nodeDir, { recursive: true, force: true })
  t.teardown(() => rmSync(nodeDir, { recursive: true, force: true }))
  const bare = barePath(t)
  symlinkSync(process.execPath, join(bare, 'node'))
  const { code, stdout, stderr } = await run('/usr/bin/bash', ['scripts/use-node.sh'], { PATH: bare, HOME: nodeDir })
  t.equal(code, 0, stderr)
  t.equal(stdout, `${bare}\n`, 'prints the directory of the machine\'s node')
  t.equal(realpathSync(join(stdout.trim(), 'node')), realpathSync(process.execPath))
  t.equal(stderr, '', 'and installs nothing')
})
