/**
 * GET /metrics: real requests through the app, then a scrape. Requests by method, route
 * template and status with latency histograms; URLs signed by operation; permission
 * checks by outcome with latency; process metrics. A registry per app (two apps in one
 * process count separately); no user data in labels; METRICS_TOKEN and METRICS_ENABLED.
 */
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { build, OFFLINE_STORAGE_ENV, type TestApp } from '../helpers/app.js'
import { json } from '../helpers/permission-stub.js'
import { bearer, tokenFor, TEST_JWT_SECRET } from '../helpers/tokens.js'

interface Sample { name: string, labels: Record<string, string>, value: number }

/** Parses the Prometheus text format (enough of it for these tests). */
function parse (text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null) throw new Error(`not a sample line: ${line}`)
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]))
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) })
  }
  return samples
}

/** The value of the sample with exactly this name and these labels (undefined when absent). */
function value (samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.keys(labels).length === Object.keys(s.labels).filter((k) => k !== 'le').length &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v) && s.labels.le === undefined)?.value
}

async function scrape (app: TestApp, headers: Record<string, string> = {}): Promise<{ status: number, contentType: string | null, text: string }> {
  const response = await fetch(`${app.url}/metrics`, { headers })
  return { status: response.status, contentType: response.headers.get('content-type'), text: await response.text() }
}

t.test('requests, signed URLs and permission checks, counted and timed', async (t) => {
  let answer: 'allow' | 'deny' | 'fail' | 'unauthenticated' = 'allow'
  const app = await build(t, {
    permissions: (_check, res) => {
      if (answer === 'fail') return json(res, 500, {})
      if (answer === 'unauthenticated') return json(res, 401, {})
      json(res, 200, { allowed: answer === 'allow' })
    }
  })
  const auth = bearer(tokenFor('alice-metrics-subject'))
  const download = (key: string, extra: object = {}) => app.post('/v1/download-urls', { key, ...extra }, auth)

  t.equal((await download('users/alice/private-name-1.txt')).status, 200)
  t.equal((await download('users/alice/private-name-2.txt')).status, 200)
  t.equal((await download('users/alice/private-name-3.txt', { method: 'HEAD' })).status, 200)
  t.equal((await app.post('/v1/upload-urls', { key: 'users/alice/up.txt', contentType: 'text/plain', contentLength: 1 }, auth)).status, 200)
  answer = 'deny'
  t.equal((await download('users/bob/x.txt')).status, 403)
  answer = 'fail'
  t.equal((await download('users/alice/y.txt')).status, 503)
  answer = 'unauthenticated'
  t.equal((await download('users/alice/z.txt')).status, 401)
  t.equal((await app.post('/v1/download-urls', { key: 'a' })).status, 401, 'no token: no permission check')
  t.equal((await fetch(`${app.url}/no/such/path/with-a-unique-name`)).status, 404)

  const { status, contentType, text } = await scrape(app)
  t.equal(status, 200)
  t.match(contentType, /^text\/plain; version=0\.0\.4/)
  const samples = parse(text)

  t.equal(value(samples, 'r2signer_signed_urls_total', { operation: 'GetObject' }), 2)
  t.equal(value(samples, 'r2signer_signed_urls_total', { operation: 'HeadObject' }), 1)
  t.equal(value(samples, 'r2signer_signed_urls_total', { operation: 'PutObject' }), 1)

  for (const [outcome, count] of [['allowed', 4], ['denied', 1], ['unavailable', 1], ['unauthenticated', 1]] as const) {
    t.equal(value(samples, 'r2signer_permission_checks_total', { outcome, source: 'service' }), count, `${count} permission checks ${outcome}`)
    t.equal(value(samples, 'r2signer_permission_check_duration_seconds_count', { outcome, source: 'service' }), count, `${count} timings ${outcome}`)
  }
  t.ok((value(samples, 'r2signer_permission_check_duration_seconds_sum', { outcome: 'allowed', source: 'service' }) ?? 0) > 0, 'durations are recorded')

  const requests = (route: string, status: string, method = 'POST') => value(samples, 'http_request_duration_seconds_count', { method, route, status })
  t.equal(requests('/v1/download-urls', '200'), 3)
  t.equal(requests('/v1/upload-urls', '200'), 1)
  t.equal(requests('/v1/download-urls', '403'), 1)
  t.equal(requests('/v1/download-urls', '503'), 1)
  t.equal(requests('/v1/download-urls', '401'), 2)
  t.equal(requests('unmatched', '404', 'GET'), 1, 'unknown paths share one label value')
  const buckets = samples.filter((s) => s.name === 'http_request_duration_seconds_bucket' && s.labels.route === '/v1/download-urls' && s.labels.status === '200')
  t.ok(buckets.length > 5, 'a latency histogram per route and status')
  t.equal(buckets.find((s) => s.labels.le === '+Inf')?.value, 3)

  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
    t.ok(samples.some((s) => s.name === name), `process metric ${name}`)
  }

  for (const userData of ['alice-metrics-subject', 'private-name', 'users/', 'with-a-unique-name']) {
    t.notOk(text.includes(userData), `no user data in the metrics (${userData})`)
  }

  const again = parse((await scrape(app)).text)
  t.equal(value(again, 'http_request_duration_seconds_count', { method: 'GET', route: '/metrics', status: '200' }), 1, 'the scrape itself is counted')
})

t.test('permission checks answered from the decision cache are labelled source="cache"', async (t) => {
  const app = await build(t, { permissions: (_check, res) => json(res, 200, { allowed: true }, { 'cache-control': 'private, max-age=60' }) })
  const auth = bearer(tokenFor('alice-cache-subject'))
  for (let i = 0; i < 3; i++) {
    t.equal((await app.post('/v1/download-urls', { key: 'users/alice/cached.txt' }, auth)).status, 200)
  }
  const samples = parse((await scrape(app)).text)
  t.equal(value(samples, 'r2signer_permission_checks_total', { outcome: 'allowed', source: 'service' }), 1, 'asked once')
  t.equal(value(samples, 'r2signer_permission_checks_total', { outcome: 'allowed', source: 'cache' }), 2, 'then reused twice')
  t.equal(app.permissions.received.length, 1, 'the permission service saw one check')
})

t.test('each app has its own registry: two apps in one process do not collide', async (t) => {
  const first = await build(t)
  const second = await build(t)
  const auth = bearer(tokenFor('alice'))
  for (let i = 0; i < 3; i++) t.equal((await first.post('/v1/download-urls', { key: `k${i}` }, auth)).status, 200)
  t.equal((await second.post('/v1/download-urls', { key: 'k' }, auth)).status, 200)
  t.equal(value(parse((await scrape(first)).text), 'r2signer_signed_urls_total', { operation: 'GetObject' }), 3)
  t.equal(value(parse((await scrape(second)).text), 'r2signer_signed_urls_total', { operation: 'GetObject' }), 1)
})

t.test('METRICS_TOKEN: a bearer token is required', async (t) => {
  const token = 'metrics-token-0123456789abcdef'
  const app = await build(t, { env: { METRICS_TOKEN: token } })
  for (const [name, headers] of [['no header', {}], ['wrong token', { authorization: 'Bearer wrong-token-0123456789abcdef' }], ['basic auth', { authorization: `Basic ${token}` }]] as const) {
    const response = await fetch(`${app.url}/metrics`, { headers })
    t.equal(response.status, 401, `${name} → 401`)
    t.match(response.headers.get('content-type'), /^application\/problem\+json/)
    t.match(response.headers.get('www-authenticate'), /^Bearer realm=/)
    t.notOk((await response.text()).includes('process_cpu'), 'no metrics')
  }
  const ok = await scrape(app, { authorization: `Bearer ${token}` })
  t.equal(ok.status, 200)
  t.match(ok.text, /process_cpu_seconds_total/)
  t.notOk(app.logText().includes(token), 'the token is not logged')
})

t.test('METRICS_TOKEN shorter than 16 characters is a configuration error', async (t) => {
  const attempt = async () => {
    const app = await buildApp({ env: { ...OFFLINE_STORAGE_ENV, LOG_LEVEL: 'silent', JWT_SECRET: TEST_JWT_SECRET, PERMISSIONS_URL: 'http://127.0.0.1:9/check', METRICS_TOKEN: 'short' } })
    await app.ready()
    await app.close()
  }
  await t.rejects(attempt(), { name: 'ConfigError', variables: ['METRICS_TOKEN'] })
})

t.test('METRICS_ENABLED=false: no /metrics, everything else works', async (t) => {
  const app = await build(t, { env: { METRICS_ENABLED: 'false' } })
  t.equal((await scrape(app)).status, 404)
  t.equal((await app.post('/v1/download-urls', { key: 'k' }, bearer(tokenFor('alice')))).status, 200)
})
