/**
 * `npm run doctor`: is storage set up for r2-signer? Reads the same variables as the server
 * (secret files included), then checks, as a table a person reads (`--json` for machines):
 *  - the credential is accepted, and every bucket in S3_BUCKET / S3_ALLOWED_BUCKETS is reachable;
 *  - each bucket's CORS rule fits the browser flow (PUT/GET/HEAD, content-type allowed, ETag exposed);
 *  - each bucket has a lifecycle rule aborting incomplete multipart uploads;
 *  - the local clock agrees with storage's;
 *  - the credential reaches no bucket outside the served ones (least privilege);
 *  - the storage self-test (docs/storage-safety.md): storage refuses what upload URLs do not sign.
 * Exits 1 when any row is `fail`, 2 when the configuration itself is invalid.
 */
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import {
  GetBucketCorsCommand,
  GetBucketLifecycleConfigurationCommand,
  HeadBucketCommand,
  ListBucketsCommand,
  type S3Client
} from '@aws-sdk/client-s3'
import { request } from 'undici'
import { buildApp } from '../src/app.js'
import { ConfigError, type Config } from '../src/config/config.js'
import { createPresigner } from '../src/signing/presigner.js'
import { createS3Client } from '../src/storage/s3-client.js'
import { GATING_CHECKS, runStorageSelfTest } from '../src/storage/self-test.js'
import { errorCode } from '../src/http/error-code.js'

export type RowStatus = 'ok' | 'warn' | 'fail'

export interface DoctorRow {
  check: string
  subject: string
  status: RowStatus
  detail: string
}

/** Beyond this, URLs are wrong on arrival (the same bound as /readyz). */
const MAX_CLOCK_SKEW_MS = 60_000

interface SdkError { name?: string, $metadata?: { httpStatusCode?: number } }

function describe (error: unknown): string {
  const e = error as SdkError
  const status = e.$metadata?.httpStatusCode
  return status === undefined ? `no answer (${errorCode(error)})` : `HTTP ${status} ${e.name ?? ''}`.trim()
}

const denied = (error: unknown) => (error as SdkError).$metadata?.httpStatusCode === 403

export async function runDoctor (config: Config): Promise<DoctorRow[]> {
  const { storage } = config
  const rows: DoctorRow[] = []
  const add = (check: string, subject: string, status: RowStatus, detail: string) => { rows.push({ check, subject, status, detail }) }
  const s3: S3Client = createS3Client(storage, { timeoutMs: storage.timeoutMs, maxAttempts: 1 })
  try {
    const buckets = [...storage.allowedBuckets]
    for (const bucket of buckets) {
      try {
        await s3.send(new HeadBucketCommand({ Bucket: bucket }))
        add(bucket === storage.defaultBucket ? 'credentials' : 'bucket', bucket, 'ok', 'HeadBucket answers 200 with the configured credential')
      } catch (error) {
        const meaning = denied(error) ? ': credentials rejected or no access to the bucket' : (error as SdkError).$metadata?.httpStatusCode === 404 ? ': no such bucket' : ''
        add(bucket === storage.defaultBucket ? 'credentials' : 'bucket', bucket, 'fail', `HeadBucket: ${describe(error)}${meaning}`)
      }
    }

    for (const bucket of buckets) {
      try {
        const { CORSRules = [] } = await s3.send(new GetBucketCorsCommand({ Bucket: bucket }))
        const lower = (list: string[] | undefined) => (list ?? []).map((v) => v.toLowerCase())
        const fit = CORSRules.find((rule) => ['PUT', 'GET', 'HEAD'].every((m) => (rule.AllowedMethods ?? []).includes(m)) &&
          lower(rule.AllowedHeaders).some((h) => h === '*' || h === 'content-type') &&
          lower(rule.ExposeHeaders).includes('etag'))
        if (fit !== undefined) add('cors', bucket, 'ok', `origins ${(fit.AllowedOrigins ?? []).join(', ')}: PUT/GET/HEAD, content-type allowed, ETag exposed`)
        else add('cors', bucket, 'fail', `no rule allows PUT, GET and HEAD with content-type and exposes ETag (${CORSRules.length} rule(s)); apply one with \`npm run cors:apply\``)
      } catch (error) {
        if ((error as SdkError).name === 'NoSuchCORSConfiguration') add('cors', bucket, 'fail', 'no CORS rule: browsers cannot use the URLs; apply one with `npm run cors:apply`')
        else if (denied(error)) add('cors', bucket, 'warn', 'the credential may not read the CORS rule (R2 object tokens cannot): check it in the dashboard')
        else add('cors', bucket, 'fail', `GetBucketCors: ${describe(error)}`)
      }
    }

    for (const bucket of buckets) {
      try {
        const { Rules = [] } = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }))
        const rule = Rules.find((r) => r.Status === 'Enabled' && r.AbortIncompleteMultipartUpload?.DaysAfterInitiation !== undefined)
        if (rule !== undefined) add('lifecycle', bucket, 'ok', `incomplete multipart uploads are aborted after ${rule.AbortIncompleteMultipartUpload?.DaysAfterInitiation} day(s)`)
        else add('lifecycle', bucket, 'fail', 'no enabled rule aborts incomplete multipart uploads: abandoned parts are kept (and billed) forever')
      } catch (error) {
        if ((error as SdkError).name === 'NoSuchLifecycleConfiguration') add('lifecycle', bucket, 'fail', 'no lifecycle rule: abandoned multipart uploads are kept (and billed) forever')
        else if (denied(error)) add('lifecycle', bucket, 'warn', 'the credential may not read lifecycle rules: check them in the dashboard')
        else add('lifecycle', bucket, 'fail', `GetBucketLifecycleConfiguration: ${describe(error)}`)
      }
    }

    try {
      const answer = await request(storage.endpoint + '/', { method: 'GET', headersTimeout: storage.timeoutMs, bodyTimeout: storage.timeoutMs })
      await answer.body.dump()
      const date = Date.parse(String(answer.headers.date ?? ''))
      if (Number.isNaN(date)) add('clock', storage.endpoint, 'warn', 'storage sent no Date header to compare with')
      else {
        const skew = Date.now() - date
        add('clock', storage.endpoint, Math.abs(skew) > MAX_CLOCK_SKEW_MS ? 'fail' : 'ok',
          `local clock ${skew >= 0 ? 'ahead of' : 'behind'} storage by ${Math.round(Math.abs(skew) / 1000)} s (at most ${MAX_CLOCK_SKEW_MS / 1000} s)`)
      }
    } catch (error) {
      add('clock', storage.endpoint, 'fail', `no answer (${errorCode(error)})`)
    }

    try {
      const { Buckets = [] } = await s3.send(new ListBucketsCommand({}))
      const outside = Buckets.map((b) => b.Name as string).filter((name) => !storage.allowedBuckets.has(name))
      if (outside.length === 0) add('least-privilege', '*', 'ok', 'the credential lists no bucket outside S3_ALLOWED_BUCKETS')
      else add('least-privilege', '*', 'fail', `the credential reaches ${outside.length} bucket(s) outside S3_ALLOWED_BUCKETS: ${outside.slice(0, 10).join(', ')}${outside.length > 10 ? ', …' : ''}; scope it to the served buckets`)
    } catch (error) {
      if (denied(error)) add('least-privilege', '*', 'ok', 'the credential may not list buckets')
      else add('least-privilege', '*', 'warn', `ListBuckets: ${describe(error)}`)
    }
  } finally {
    s3.destroy()
  }

  const report = await runStorageSelfTest({
    presigner: createPresigner(storage),
    storage,
    bucket: storage.defaultBucket,
    prefix: config.storageCheck.prefix,
    timeoutMs: storage.timeoutMs
  })
  for (const check of report.checks) {
    const gating = GATING_CHECKS.includes(check.name)
    const status: RowStatus = check.outcome === 'ok' ? 'ok' : gating ? 'fail' : 'warn'
    add(`self-test ${check.name}`, storage.defaultBucket, status, check.reason)
  }
  return rows
}

export function formatTable (rows: readonly DoctorRow[]): string {
  const head = { check: 'check', subject: 'subject', status: 'status', detail: 'detail' }
  const all = [head, ...rows.map((row) => ({ ...row, status: row.status.toUpperCase() }))]
  const width = (key: 'check' | 'subject' | 'status') => Math.max(...all.map((row) => row[key].length))
  const line = (row: typeof head) => `${row.check.padEnd(width('check'))}  ${row.subject.padEnd(width('subject'))}  ${row.status.padEnd(width('status'))}  ${row.detail}`
  const failed = rows.filter((row) => row.status === 'fail').length
  return [...all.map(line), '', failed === 0 ? 'No failures.' : `${failed} failure(s).`].join('\n') + '\n'
}

async function main (argv: string[]): Promise<number> {
  const json = argv.includes('--json')
  let config: Config
  try {
    const app = await buildApp({ env: { ...process.env, LOG_LEVEL: 'silent' }, storageSelfTest: false })
    config = app.config
    await app.close()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`r2-signer doctor: ${error.message}\n`)
    return 2
  }
  const rows = await runDoctor(config)
  process.stdout.write(json ? JSON.stringify({ ok: rows.every((row) => row.status !== 'fail'), rows }, null, 2) + '\n' : formatTable(rows))
  return rows.some((row) => row.status === 'fail') ? 1 : 0
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2))
}
