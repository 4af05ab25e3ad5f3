/**
 * Redis stopped under steady load, then restarted (a private redis-server: the run's shared one
 * is never stopped). Instance A fails closed on revocations (503 REVOCATION_UNAVAILABLE with
 * Retry-After), instance B is configured REVOCATION_FAIL_OPEN=true and keeps issuing URLs; rate
 * limits fail open on both (logged once, counted); never a 500; both recover without a restart.
 */
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { answerOf, build, type TestApp } from '../helpers/app.js'
import { bearer, tokenFor } from '../helpers/tokens.js'
import { privateRedis, testKeyPrefix } from '../helpers/redis.js'
import { eventually } from '../helpers/shared-state.js'

function download (app: TestApp, sub: string): Promise<Response> {
  return app.post('/v1/download-urls', { key: 'users/load/file.bin' }, bearer(tokenFor(sub)))
}

/** Requests to `app` every 20 ms until stopped, each from a new subject (under its limit); the statuses seen, in order. */
function steadyLoad (app: TestApp, sub: string) {
  const statuses: number[] = []
  const retryAfter = new Set<string | null>()
  const state = { running: true }
  const done = (async () => {
    for (let n = 0; state.running; n++) {
      const answer = await answerOf(await download(app, `${sub}-${n}`))
      statuses.push(answer.status)
      if (answer.status === 503) retryAfter.add(answer.headers.get('retry-after'))
      await sleep(20)
    }
  })()
  return {
    statuses,
    retryAfter,
    async stop () {
      state.running = false
      await done
    }
  }
}

t.test('Redis stopped under steady load: no 500, rate limits open, revocations 503 (or open when configured), recovery after restart', async (t) => {
  const redis = await privateRedis(t)
  const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: testKeyPrefix('outage'), RATE_LIMIT_URLS_PER_MINUTE: '3' }
  const a = await build(t, { env })
  const b = await build(t, { env: { ...env, REVOCATION_FAIL_OPEN: 'true' } })

  // Before: the limit holds (3 per minute for dave, shared by A and B).
  for (let i = 0; i < 3; i++) t.equal((await download(i % 2 === 0 ? a : b, 'dave')).status, 200)
  t.equal((await download(b, 'dave')).status, 429, 'dave is over the limit while Redis is up')

  const loadA = steadyLoad(a, 'erin')
  const loadB = steadyLoad(b, 'frank')
  await sleep(200)
  await redis.stop()

  // A fresh subject for every probe: each request counts against its subject's URL limit (3 here).
  let probe = 0
  const served = async (app: TestApp) => (await download(app, `probe-${probe++}`)).status
  await eventually(async () => await served(a) === 503, 2000)
  const refused = await answerOf(await download(a, 'gina'))
  t.equal(refused.status, 503, 'A: 503 while Redis is down')
  t.equal(refused.body.code, 'REVOCATION_UNAVAILABLE')
  t.match(refused.headers.get('retry-after'), /^\d+$/, 'with Retry-After')
  // dave's refusal is remembered for a moment after Redis said "none left"; past it, B asks Redis, finds it down, allows.
  await eventually(async () => (await download(b, 'dave')).status === 200, 4000)
  t.pass('B: rate limits fail open (dave, over the limit, is served) and revocations answer from the last copy')
  for (let i = 0; i < 5; i++) t.equal((await download(b, 'dave')).status, 200, 'B keeps serving dave past the limit')

  const readyz = await (await fetch(a.url + '/readyz')).json() as { status: string, sharedState: Record<string, string> }
  t.match(readyz, { status: 'not_ready', sharedState: { kind: 'redis', redis: 'fail', revocations: 'not-in-sync', rateLimits: 'open' } }, '/readyz reports Redis down')
  await sleep(500)

  await redis.restart()
  await eventually(async () => await served(a) === 200, 10_000)
  t.pass('A serves again after Redis restarts, without an app restart')
  await eventually(() => a.app.sharedState.revocations.isAvailable() && b.app.sharedState.revocations.isAvailable(), 10_000)
  // The restarted Redis is empty: dave's count starts afresh, and the limit holds again.
  for (let i = 0; i < 3; i++) t.equal((await download(a, 'hank')).status, 200)
  t.equal((await download(b, 'hank')).status, 429, 'rate limits enforced again')
  const created = await fetch(a.url + '/readyz')
  t.match(await created.json(), { sharedState: { redis: 'ok', revocations: 'in-sync', rateLimits: 'enforced' } }, '/readyz reports Redis back')

  await sleep(200)
  await Promise.all([loadA.stop(), loadB.stop()])
  t.notOk([...loadA.statuses, ...loadB.statuses].some((status) => status >= 500 && status !== 503), 'never a 500 under load')
  t.ok(loadA.statuses.includes(503), 'A refused during the outage (fail closed)')
  t.ok(loadA.statuses.filter((s) => s !== 200 && s !== 503).length === 0, `A answered only 200 or 503 (${new Set(loadA.statuses).size} kinds)`)
  t.same([...loadA.retryAfter].filter((value) => value === null), [], 'every 503 had Retry-After')
  t.same([...new Set(loadB.statuses)], [200], 'B (REVOCATION_FAIL_OPEN) answered 200 throughout')
  t.equal(loadA.statuses.at(-1), 200, 'A ends serving')

  const metricsA = await (await fetch(a.url + '/metrics')).text()
  const metricsB = await (await fetch(b.url + '/metrics')).text()
  t.match(metricsA, /r2signer_revocation_unavailable_total\{action="refused"\} [1-9]/, 'A counts refusals for unavailable revocations')
  t.match(metricsB, /r2signer_revocation_unavailable_total\{action="allowed"\} [1-9]/, 'B counts what it allowed without a confirmed copy')
  t.match(metricsB, /r2signer_rate_limit_fail_open_total\{limit="urls"\} [1-9]/, 'B counts rate-limit decisions made without Redis')
  const failOpenLogs = b.logs.filter((line) => typeof line.msg === 'string' && line.msg.includes('rate limit not enforced'))
  t.equal(failOpenLogs.length, 1, 'the fail-open is logged once for the outage')
  t.notMatch(a.logText() + b.logText(), /"level":50/, 'no error logged (never a 500)')
})

t.test('without REDIS_URL: in memory, said at startup; the admin API and limits work in this instance', async (t) => {
  const app = await build(t, { env: { RATE_LIMIT_URLS_PER_MINUTE: '2', ADMIN_TOKEN: 'memory-admin-token-0123456789abcdef0123' } })
  t.ok(app.logs.some((line) => typeof line.msg === 'string' && /revocations are kept in memory, for this instance only/.test(line.msg)), 'startup log says revocations live in memory')
  const readyz = await (await fetch(app.url + '/readyz')).json() as { sharedState: unknown }
  t.same(readyz.sharedState, { kind: 'memory', revocations: 'in-sync', rateLimits: 'enforced' })
  t.equal((await download(app, 'ivy')).status, 200)
  t.equal((await download(app, 'ivy')).status, 200)
  t.equal((await download(app, 'ivy')).status, 429)
  const created = await fetch(app.url + '/admin/v1/revocations', {
    method: 'POST',
    headers: { authorization: 'Bearer memory-admin-token-0123456789abcdef0123', 'content-type': 'application/json' },
    body: JSON.stringify({ subject: 'jack' })
  })
  t.equal(created.status, 201)
  t.equal((await download(app, 'jack')).status, 403, 'revoked in this instance')
})
