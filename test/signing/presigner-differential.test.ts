/**
 * Differential test: our presigner vs the AWS SDK's getSignedUrl (test/signing/oracle.ts) on
 * thousands of generated cases. The URLs must be byte-identical.
 *
 * Reproduce a failure with the printed seed: SEED=<n> npx tap test/signing/presigner-differential.test.ts
 * CASES=<n> changes the number of generated cases (default 5000).
 */
import t from 'tap'
import { createPresigner, DEFAULT_PUT_CONTENT_TYPE } from '../../src/signing/presigner.js'
import type { PresignInput, PresignedUrl, Presigner, PresignerConfig } from '../../src/signing/presigner.js'
import { allConfigs, describeCase, genInput, genKey, Rng, seedFromEnv } from './arbitrary.js'
import { createOracle } from './oracle.js'
import type { Oracle } from './oracle.js'

const seed = seedFromEnv()
const CASES = Number(process.env['CASES'] ?? 5000)
t.comment(`seed=${seed} cases=${CASES} (reproduce with SEED=${seed})`)

interface Pair {
  config: PresignerConfig;
  ours: Presigner;
  oracle: Oracle;
}
const pairs: Pair[] = allConfigs().map((config) => ({ config, ours: createPresigner(config), oracle: createOracle(config) }))

const METHODS = { GetObject: 'GET', HeadObject: 'HEAD', PutObject: 'PUT', UploadPart: 'PUT' } as const
const CHECKSUM_PARAM = /checksum/i

/** Everything we assert about one case; returns a list of problems (empty = pass). */
function check (config: PresignerConfig, input: PresignInput, ours: PresignedUrl, theirs: string): string[] {
  const problems: string[] = []
  if (ours.url !== theirs) problems.push(`url differs\n  ours: ${ours.url}\n  sdk:  ${theirs}`)
  const u = new URL(ours.url)
  const params = [...u.searchParams.keys()]
  const bad = [...params, ...new URL(theirs).searchParams.keys()].filter((k) => CHECKSUM_PARAM.test(k))
  if (bad.length > 0) problems.push(`checksum params present: ${bad.join(', ')}`)
  const signed = Object.keys(ours.signedHeaders).sort().join(';')
  if (signed !== u.searchParams.get('X-Amz-SignedHeaders')) {
    problems.push(`signedHeaders ${signed} != X-Amz-SignedHeaders ${String(u.searchParams.get('X-Amz-SignedHeaders'))}`)
  }
  if (ours.signedHeaders['host'] !== u.host) problems.push(`signedHeaders.host ${String(ours.signedHeaders['host'])} != URL host ${u.host}`)
  if (ours.method !== METHODS[input.operation]) problems.push(`method ${ours.method}`)
  if (ours.method === 'PUT') {
    // Parts never sign a content type; PutObject always does.
    const want = input.operation === 'UploadPart' ? undefined : input.headers?.['content-type'] ?? DEFAULT_PUT_CONTENT_TYPE
    if (ours.signedHeaders['content-type'] !== want) problems.push(`signed content-type ${String(ours.signedHeaders['content-type'])}`)
    for (const h of ['content-length', 'content-md5', 'if-none-match']) {
      if (ours.signedHeaders[h] !== input.headers?.[h]) problems.push(`signed ${h} ${String(ours.signedHeaders[h])}`)
    }
  }
  const d = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(u.searchParams.get('X-Amz-Date') ?? '')
  const expires = Number(u.searchParams.get('X-Amz-Expires'))
  if (d === null) {
    problems.push('bad X-Amz-Date')
  } else {
    const [, y, mo, da, h, mi, s] = d.map(Number) as [number, number, number, number, number, number, number]
    const signedAt = Date.UTC(y, mo - 1, da, h, mi, s)
    if (signedAt !== Math.floor((input.signingDate as Date).getTime() / 1000) * 1000) problems.push('X-Amz-Date is not the signing date')
    if (ours.expiresAt.getTime() !== signedAt + expires * 1000) problems.push(`expiresAt ${ours.expiresAt.toISOString()}`)
  }
  if (expires !== input.expiresIn) problems.push(`X-Amz-Expires ${expires}`)
  void config
  return problems
}

t.test(`generated cases: presign().url === getSignedUrl() (seed ${seed})`, async (t) => {
  const rng = new Rng(seed)
  let failures = 0
  const coverage = { virtualHosted: 0, pathStyleFallback: 0, forcedPath: 0, ip: 0, dayBoundary: 0, GetObject: 0, HeadObject: 0, PutObject: 0, UploadPart: 0, ifNoneMatch: 0, partContentLengthOnly: 0 }
  const started = Date.now()
  for (let i = 0; i < CASES; i++) {
    // Random config per case, so each presigner's date/key caches see interleaved dates.
    const { config, ours, oracle } = rng.pick(pairs)
    const input = genInput(rng)
    let problems: string[]
    try {
      problems = check(config, input, ours.presign(input), await oracle.presign(input))
    } catch (err) {
      problems = [`threw: ${(err as Error).stack ?? String(err)}`]
    }
    if (problems.length > 0) {
      failures++
      if (failures <= 10) t.fail(`case #${i} (seed ${seed})`, { diag: { problems, case: describeCase(config, input) } })
      continue
    }
    coverage[input.operation]++
    if (input.headers?.['if-none-match'] !== undefined) coverage.ifNoneMatch++
    if (input.operation === 'UploadPart' && input.headers?.['content-length'] !== undefined && input.headers['content-md5'] === undefined) coverage.partContentLengthOnly++
    const host = new URL(config.endpoint).hostname
    const isIp = /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.startsWith('[')
    if (isIp) coverage.ip++
    if (config.forcePathStyle) coverage.forcedPath++
    else if (!isIp) {
      if (new URL(ours.presign(input).url).hostname.startsWith(input.bucket + '.')) coverage.virtualHosted++
      else coverage.pathStyleFallback++
    }
    const ms = (input.signingDate as Date).getTime() % 86_400_000
    if (ms < 2000 || ms > 86_398_000) coverage.dayBoundary++
  }
  t.equal(failures, 0, `${CASES} cases, ${failures} mismatches (seed ${seed})`)
  // Guard against the generator silently losing coverage.
  for (const [name, n] of Object.entries(coverage)) t.ok(n >= CASES / 100, `coverage ${name}: ${n}`)
  t.comment(`${CASES} cases in ${Date.now() - started} ms`)
})

t.test('keys are not normalized: NFC and NFD spellings sign differently, each like the SDK', async (t) => {
  const pair = pairs[0] as Pair
  const signingDate = new Date('2024-06-01T12:00:00Z')
  const nfc = 'café/Å/ñ.txt'.normalize('NFC')
  const nfd = nfc.normalize('NFD')
  t.not(nfc, nfd)
  const a = pair.ours.presign({ operation: 'GetObject', bucket: 'b', key: nfc, expiresIn: 60, signingDate })
  const b = pair.ours.presign({ operation: 'GetObject', bucket: 'b', key: nfd, expiresIn: 60, signingDate })
  t.not(a.url, b.url)
  t.equal(a.url, await pair.oracle.presign({ operation: 'GetObject', bucket: 'b', key: nfc, expiresIn: 60, signingDate }))
  t.equal(b.url, await pair.oracle.presign({ operation: 'GetObject', bucket: 'b', key: nfd, expiresIn: 60, signingDate }))
})

t.test('signing-key cache: interleaved dates across day boundaries and more days than cache slots', async (t) => {
  const config: PresignerConfig = {
    endpoint: 'https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com',
    region: 'auto',
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    forcePathStyle: false
  }
  const ours = createPresigner(config)
  const oracle = createOracle(config)
  const rng = new Rng(seed ^ 0x5eed)
  const midnights = [0, 1, 2, 3, 4, 5, 6, 40].map((d) => Date.UTC(2024, 11, 30) + d * 86_400_000)
  let mismatches = 0
  for (let i = 0; i < 300; i++) {
    const signingDate = new Date(rng.pick(midnights) + rng.pick([-1001, -1000, -1, 0, 999, 1000]))
    const input: PresignInput = { operation: rng.pick(['GetObject', 'PutObject'] as const), bucket: 'my-bucket', key: genKey(rng), expiresIn: 3600, signingDate }
    if (ours.presign(input).url !== (await oracle.presign(input))) {
      mismatches++
      t.fail(`mismatch at ${signingDate.toISOString()}`, { diag: { case: describeCase(config, input) } })
    }
  }
  t.equal(mismatches, 0)
})

t.test('default signingDate is now', async (t) => {
  const pair = pairs[1] as Pair
  const before = Math.floor(Date.now() / 1000) * 1000
  const res = pair.ours.presign({ operation: 'GetObject', bucket: 'my-bucket', key: 'now.txt', expiresIn: 60 })
  const after = Date.now()
  const signedAt = res.expiresAt.getTime() - 60_000
  t.ok(signedAt >= before && signedAt <= after, 'X-Amz-Date between before and after')
  const theirs = await pair.oracle.presign({ operation: 'GetObject', bucket: 'my-bucket', key: 'now.txt', expiresIn: 60, signingDate: new Date(signedAt) })
  t.equal(res.url, theirs)
})
