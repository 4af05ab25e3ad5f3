/**
 * `npm run doctor` as an operator runs it (a child process reading the environment), against real
 * Ceph RGW: a fresh bucket fails CORS, lifecycle and the storage self-test; once the bucket has a CORS
 * rule and a lifecycle rule and Ceph sits behind the header-enforcing proxy, those rows pass. The
 * test user owns every test bucket, so least privilege fails throughout (and says so).
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { PutBucketLifecycleConfigurationCommand } from '@aws-sdk/client-s3'
import t from 'tap'
import { applyCors } from '../../examples/media-app/apply-cors.js'
import type { DoctorRow } from '../../scripts/doctor.js'
import { headerProxy } from '../helpers/header-proxy.js'
import { createTestBucket, s3Client, testStorage } from '../helpers/storage.js'
import { TEST_JWT_SECRET } from '../helpers/tokens.js'

const DOCTOR = fileURLToPath(new URL('../../scripts/doctor.ts', import.meta.url))
const storage = testStorage()

function doctor (env: Record<string, string>, args: string[] = ['--json']): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', DOCTOR, ...args], {
      env: { PATH: process.env.PATH ?? '', JWT_SECRET: TEST_JWT_SECRET, PERMISSIONS_URL: 'http://127.0.0.1:9/check', S3_REGION: storage.region, S3_ACCESS_KEY_ID: storage.accessKeyId, S3_SECRET_ACCESS_KEY: storage.secretAccessKey, ...env },
      timeout: 60_000
    }, (error, stdout, stderr) => resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? -1), stdout, stderr }))
  })
}

function byCheck (rows: DoctorRow[]): Record<string, DoctorRow> {
  return Object.fromEntries(rows.map((row) => [`${row.check} ${row.subject}`, row]))
}

t.test('a fresh bucket on raw Ceph: CORS, lifecycle, least privilege and the self-test fail; exit 1', async (t) => {
  const [bucket, other] = await Promise.all([createTestBucket('doctor'), createTestBucket('doctor-other')])
  const { code, stdout, stderr } = await doctor({ S3_ENDPOINT: storage.endpoint, S3_BUCKET: bucket })
  t.equal(code, 1, `exit 1 (stderr: ${stderr.slice(0, 300)})`)
  const { ok, rows } = JSON.parse(stdout) as { ok: boolean, rows: DoctorRow[] }
  t.equal(ok, false)
  const row = byCheck(rows)
  t.match(row[`credentials ${bucket}`], { status: 'ok' })
  t.match(row[`cors ${bucket}`], { status: 'fail', detail: /no CORS rule/ })
  t.match(row[`lifecycle ${bucket}`], { status: 'fail', detail: /no lifecycle rule/ })
  t.match(row[`clock ${storage.endpoint}`], { status: 'ok' })
  t.match(row['least-privilege *'], { status: 'fail', detail: new RegExp(`outside S3_ALLOWED_BUCKETS: .*${other}`) }, 'names the other bucket')
  t.match(row[`self-test unsigned-copy-source ${bucket}`], { status: 'fail', detail: /copied another object/ })
  t.match(row[`self-test tampered-url ${bucket}`], { status: 'ok' })
  t.notOk(stdout.includes(storage.secretAccessKey), 'the secret is never printed')
})

t.test('with CORS and lifecycle rules, behind the header-enforcing proxy: those rows pass; the table reads', async (t) => {
  const bucket = await createTestBucket('doctor-ok')
  await applyCors({ ...storage, bucket }, ['http://127.0.0.1:3000'])
  const s3 = s3Client()
  t.teardown(() => s3.destroy())
  await s3.send(new PutBucketLifecycleConfigurationCommand({
    Bucket: bucket,
    LifecycleConfiguration: { Rules: [{ ID: 'abort-incomplete', Status: 'Enabled', Filter: { Prefix: '' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }] }
  }))
  const proxy = await headerProxy(t, storage.endpoint)
  const env = { S3_ENDPOINT: proxy.endpoint, S3_BUCKET: bucket }
  const { stdout } = await doctor(env)
  const rows = (JSON.parse(stdout) as { rows: DoctorRow[] }).rows
  const row = byCheck(rows)
  t.match(row[`cors ${bucket}`], { status: 'ok', detail: /http:\/\/127\.0\.0\.1:3000/ })
  t.match(row[`lifecycle ${bucket}`], { status: 'ok', detail: /after 1 day/ })
  t.same(rows.filter((r) => r.check.startsWith('self-test') && r.status !== 'ok'), [], 'every self-test row ok')

  const table = await doctor(env, [])
  t.equal(table.code, 1, 'still exit 1: least privilege')
  t.match(table.stdout, /^check\s+subject\s+status\s+detail\n/)
  t.match(table.stdout, /self-test unsigned-copy-source\s+\S+\s+OK\s+refused \(HTTP 403 AccessDenied\)/)
  t.match(table.stdout, /1 failure\(s\)\.\n$/)
})

t.test('a wrong secret: the credentials row fails; invalid configuration exits 2', async (t) => {
  const bucket = await createTestBucket('doctor-bad')
  const { code, stdout } = await doctor({ S3_ENDPOINT: storage.endpoint, S3_BUCKET: bucket, S3_SECRET_ACCESS_KEY: 'not-the-secret' })
  t.equal(code, 1)
  t.match(byCheck((JSON.parse(stdout) as { rows: DoctorRow[] }).rows)[`credentials ${bucket}`], { status: 'fail', detail: /HTTP 403/ })
  const invalid = await doctor({ S3_BUCKET: bucket })
  t.equal(invalid.code, 2)
  t.match(invalid.stderr, /S3_ENDPOINT/)
})
