/**
 * RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: requests failing authentication count against their
 * client address; past the limit they get 429 RATE_LIMITED, and the address is then refused before
 * its token is verified, until the window ends. TRUST_PROXY decides what the address is.
 */
import t from 'tap'
import { answerOf, build, expectProblem, type TestApp } from '../helpers/app.js'
import { bearer, tokenFor } from '../helpers/tokens.js'

function download (app: TestApp, headers: Record<string, string>): Promise<Response> {
  return app.post('/v1/download-urls', { key: 'a/b.txt' }, headers)
}

t.test('failed authentications per address: 401 up to the limit, then 429 for every token until the window ends', async (t) => {
  const app = await build(t, { env: { RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: '3' } })
  for (let i = 0; i < 3; i++) await expectProblem(t, await download(app, bearer('not.a.token')), 401, 'UNAUTHORIZED', `failure ${i + 1}`)
  t.equal((await download(app, bearer(tokenFor('alice')))).status, 200, 'a valid token does not count')
  const limited = await answerOf(await download(app, {}))
  t.equal(limited.status, 429, 'the 4th failure → 429')
  t.equal(limited.body.code, 'RATE_LIMITED')
  t.match(limited.body.detail, /failed authentication from this address: at most 3 per minute/)
  t.equal(limited.headers.get('ratelimit-limit'), '3')
  t.equal(limited.headers.get('ratelimit-remaining'), '0')
  t.match(limited.headers.get('retry-after'), /^\d+$/)
  const blocked = await answerOf(await download(app, bearer(tokenFor('alice'))))
  t.equal(blocked.status, 429, 'then the address is refused before any token is verified, even a valid one')
  const metrics = await (await fetch(app.url + '/metrics')).text()
  t.match(metrics, /r2signer_rate_limited_total\{limit="unauthenticated"\} 2/)
})

t.test('TRUST_PROXY: the address comes from the proxy header, so each client has its own budget', async (t) => {
  const app = await build(t, { env: { RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: '1', TRUST_PROXY: 'true' } })
  const from = (ip: string) => ({ ...bearer('bad.bad.bad'), 'x-forwarded-for': `203.0.113.9, ${ip}` })
  await expectProblem(t, await download(app, from('198.51.100.1')), 401, 'UNAUTHORIZED')
  await expectProblem(t, await download(app, from('198.51.100.1')), 429, 'RATE_LIMITED', 'same address')
  await expectProblem(t, await download(app, from('198.51.100.2')), 401, 'UNAUTHORIZED', 'another address has its own budget')
  await expectProblem(t, await download(app, { ...from('198.51.100.2'), 'fly-client-ip': '198.51.100.1' }), 429, 'RATE_LIMITED', 'Fly-Client-IP wins')
})
