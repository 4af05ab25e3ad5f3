/**
 * fly.toml against the app it deploys: the internal port is the env schema's default PORT
 * and the Dockerfile's EXPOSE; every check path is a real route (liveness 200 even with
 * storage broken; readiness 200 against the real storage, 503 with wrong credentials) and
 * answers within its check's timeout; the metrics path answers without a token; [env] holds
 * known, non-secret variables that configure the app; the kill timeout covers the shutdown.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { parse } from 'smol-toml'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { EnvSchema, SECRET_ENV_NAMES, type EnvName } from '../../src/config/env-schema.js'
import { READINESS_PROBE_TIMEOUT_MS } from '../../src/readiness/plugin.js'
import { buildWithStorage, OFFLINE_STORAGE_ENV } from '../helpers/app.js'
import { startPermissionStub } from '../helpers/permission-stub.js'
import { TEST_JWT_SECRET } from '../helpers/tokens.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** A variable's default in the env schema. */
const schemaDefault = (name: EnvName) => (EnvSchema.properties[name] as unknown as { default?: unknown }).default

interface Check { type?: string, port?: number, method?: string, path?: string, interval?: string, timeout?: string, grace_period?: string }
interface FlyToml {
  app: string
  primary_region: string
  kill_signal?: string
  kill_timeout?: number | string
  build: { dockerfile: string }
  env: Record<string, unknown>
  http_service: {
    internal_port: number
    force_https: boolean
    auto_stop_machines: string | boolean
    auto_start_machines: boolean
    min_machines_running: number
    concurrency: { type: string, soft_limit: number, hard_limit: number }
    checks: Check[]
  }
  checks?: Record<string, Check>
  metrics?: { port: number, path: string }
}

const fly = parse(readFileSync(join(ROOT, 'fly.toml'), 'utf8')) as unknown as FlyToml
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
const defaultPort = schemaDefault('PORT')
const flyEnv = Object.fromEntries(Object.entries(fly.env).map(([name, value]) => [name, String(value)]))

/** Fly durations: "15s", "500ms", "1m", or a number of seconds. */
function ms (duration: string | number | undefined): number {
  if (typeof duration === 'number') return duration * 1000
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(duration ?? '')
  if (match === null) throw new Error(`not a duration: ${String(duration)}`)
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h']
}

/** fly.toml's [env] without what names the production storage (the test storage has its own bucket and region). */
const { S3_BUCKET: _bucket, S3_REGION: _region, ...storageIndependentEnv } = flyEnv

const topLevelChecks = Object.entries(fly.checks ?? {})
const allChecks: Array<[string, Check]> = [...fly.http_service.checks.map((check, i): [string, Check] => [`http_service.checks[${i}]`, check]), ...topLevelChecks]

t.test('the app, the image and the port agree', async (t) => {
  t.match(fly.app, /^[a-z0-9-]+$/, 'an app name (placeholder)')
  t.match(fly.primary_region, /^[a-z]{3}$/, 'a primary region')
  t.equal(fly.build.dockerfile, 'Dockerfile')
  t.equal(fly.http_service.internal_port, defaultPort, 'internal_port is the default PORT of the env schema')
  t.match(dockerfile, new RegExp(`^EXPOSE ${fly.http_service.internal_port}$`, 'm'), 'and the Dockerfile\'s EXPOSE')
  t.equal(Number(fly.env.PORT ?? defaultPort), fly.http_service.internal_port, '[env] PORT (if set) too')
})

t.test('[http_service]: HTTPS, autoscaling, concurrency', async (t) => {
  const service = fly.http_service
  t.equal(service.force_https, true, 'force_https')
  t.equal(service.auto_stop_machines, 'stop')
  t.equal(service.auto_start_machines, true)
  t.ok(service.min_machines_running >= 1, 'at least one machine stays warm')
  t.equal(service.concurrency.type, 'requests', 'limits count requests (HTTP keep-alive makes connections meaningless)')
  t.ok(service.concurrency.soft_limit > 0 && service.concurrency.soft_limit < service.concurrency.hard_limit, 'soft < hard')
})

t.test('[env]: known variables, no secrets, and a valid configuration', async (t) => {
  const known = Object.keys(EnvSchema.properties)
  for (const name of Object.keys(fly.env)) {
    t.ok(known.includes(name), `${name} is a variable r2-signer reads`)
    t.equal(typeof fly.env[name], 'string', `${name} is a string (Fly passes strings)`)
  }
  for (const secret of SECRET_ENV_NAMES) {
    t.notOk(secret in fly.env, `${secret} is not in [env] (fly secrets set)`)
    t.notOk(`${secret}_FILE` in fly.env, `${secret}_FILE is not in [env]`)
  }
  // With the secrets `fly secrets set` provides, [env] as written configures the app.
  const stub = await startPermissionStub()
  t.teardown(stub.close)
  const app = await buildApp({ env: { ...flyEnv, LOG_LEVEL: 'silent', ...OFFLINE_STORAGE_ENV, S3_BUCKET: flyEnv.S3_BUCKET, JWT_SECRET: TEST_JWT_SECRET, PERMISSIONS_URL: stub.url, PORT: '0' } })
  t.teardown(() => app.close())
  await app.ready()
  t.equal(app.config.host, flyEnv.HOST ?? '0.0.0.0')
  t.equal(app.config.metrics.enabled, true, 'metrics on, for Fly\'s scraper')
  t.equal(app.config.metrics.token, undefined, 'no token: Fly\'s scraper sends none')
  // HOST "::" is dual-stack: the proxy's IPv4 and the private network's IPv6 both reach it.
  const address = await app.listen({ host: app.config.host, port: 0 })
  const port = new URL(address).port
  for (const host of ['127.0.0.1', '[::1]']) t.equal((await fetch(`http://${host}:${port}/healthz`)).status, 200, `reachable on ${host}`)
})

t.test('kill_signal and kill_timeout cover the graceful shutdown', async (t) => {
  t.equal(fly.kill_signal, 'SIGTERM', 'the signal server.ts drains on (Fly defaults to SIGINT)')
  const shutdownMs = Number(flyEnv.SHUTDOWN_TIMEOUT_MS ?? schemaDefault('SHUTDOWN_TIMEOUT_MS'))
  t.ok(ms(fly.kill_timeout) > shutdownMs, `kill_timeout (${ms(fly.kill_timeout)} ms) > SHUTDOWN_TIMEOUT_MS (${shutdownMs} ms)`)
})

t.test('checks: well-formed, on the service port, leaving the probes time to answer', async (t) => {
  t.ok(fly.http_service.checks.some((check) => check.path === '/healthz'), 'liveness (/healthz) is a routing check')
  t.ok(allChecks.some(([, check]) => check.path === '/readyz'), 'readiness (/readyz) is checked')
  for (const [name, check] of allChecks) {
    t.equal((check.method ?? 'GET').toUpperCase(), 'GET', `${name}: GET`)
    t.ok(ms(check.interval) >= 5000, `${name}: interval ≥ 5 s`)
    t.ok(ms(check.timeout) < ms(check.interval), `${name}: timeout < interval`)
    t.ok(ms(check.grace_period) > 0, `${name}: a grace period for start-up`)
  }
  for (const [name, check] of topLevelChecks) {
    t.equal(check.type, 'http', `${name}: http`)
    t.equal(check.port, fly.http_service.internal_port, `${name}: the service port`)
  }
  const readyz = allChecks.find(([, check]) => check.path === '/readyz')?.[1]
  t.ok(ms(readyz?.timeout) > READINESS_PROBE_TIMEOUT_MS, '/readyz check timeout exceeds the dependency probe timeout')
  t.equal(fly.metrics?.port, fly.http_service.internal_port, '[metrics] on the service port')
})

t.test('the check and metrics paths are real routes: healthy app → 200', async (t) => {
  const app = await buildWithStorage(t, { env: { ...storageIndependentEnv, PORT: '0' } })
  for (const [name, check] of allChecks) {
    const started = performance.now()
    const response = await fetch(`${app.url}${check.path ?? ''}`)
    const elapsed = performance.now() - started
    t.equal(response.status, 200, `${name} ${check.path ?? ''} → 200`)
    t.ok(elapsed < ms(check.timeout), `${name}: answered in ${Math.round(elapsed)} ms, within its timeout`)
  }
  const metrics = await fetch(`${app.url}${fly.metrics?.path ?? ''}`)
  t.equal(metrics.status, 200, `[metrics] ${fly.metrics?.path ?? ''} → 200 without a token`)
  t.match(metrics.headers.get('content-type'), /^text\/plain/)
})

t.test('... storage credentials wrong → readiness 503, liveness still 200', async (t) => {
  const app = await buildWithStorage(t, { env: { ...storageIndependentEnv, PORT: '0', S3_SECRET_ACCESS_KEY: 'not-the-secret' } })
  for (const [name, check] of allChecks) {
    const response = await fetch(`${app.url}${check.path ?? ''}`)
    t.equal(response.status, check.path === '/readyz' ? 503 : 200, `${name} ${check.path ?? ''} → ${response.status}`)
  }
})
