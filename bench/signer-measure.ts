/**
 * Our presigner vs the SDK's getSignedUrl (test/signing/oracle.ts): same process, same inputs,
 * alternating timed runs, median URLs/s of each. Used by bench/signer.ts and bench/run.ts.
 *
 * Inputs are a fixed, seeded mix of all four operations (odd keys, headers, response overrides)
 * against an R2-style endpoint; signingDate is left to default to "now", as in the routes.
 */
import { createPresigner, type PresignInput, type PresignerConfig } from '../src/signing/presigner.js'
import { genInput, Rng } from '../test/signing/arbitrary.js'
import { createOracle } from '../test/signing/oracle.js'

export interface SignerMeasureOptions {
  rounds: number
  ms: number
  seed: number
}

export interface SignerResult {
  rounds: number
  msPerRun: number
  inputs: number
  seed: number
  oursUrlsPerSecond: number
  sdkUrlsPerSecond: number
  /** ours / sdk */
  ratio: number
  oursRuns: number[]
  sdkRuns: number[]
}

const N_INPUTS = 1024

export function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}

export async function measureSigner ({ rounds, ms, seed }: SignerMeasureOptions): Promise<SignerResult> {
  const config: PresignerConfig = {
    endpoint: 'https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com',
    region: 'auto',
    accessKeyId: '0123456789abcdef0123456789abcdef',
    secretAccessKey: 'f'.repeat(64),
    forcePathStyle: false
  }
  const ours = createPresigner(config)
  const oracle = createOracle(config)

  const rng = new Rng(seed)
  const dated: PresignInput[] = Array.from({ length: N_INPUTS }, () => genInput(rng))
  const inputs: PresignInput[] = dated.map(({ signingDate: _, ...rest }) => rest)

  // Both sides must be doing the same work: check equality on the dated copies first.
  for (const input of dated) {
    if (ours.presign(input).url !== (await oracle.presign(input))) {
      throw new Error(`outputs differ for ${JSON.stringify(input)}`)
    }
  }

  let sink = 0
  const runOurs = (duration: number): number => {
    const end = performance.now() + duration
    let n = 0
    while (performance.now() < end) {
      for (let i = 0; i < 64; i++) sink += ours.presign(inputs[(n + i) & (N_INPUTS - 1)] as PresignInput).url.length
      n += 64
    }
    return n
  }
  const runSdk = async (duration: number): Promise<number> => {
    const end = performance.now() + duration
    let n = 0
    while (performance.now() < end) {
      for (let i = 0; i < 8; i++) sink += (await oracle.presign(inputs[(n + i) & (N_INPUTS - 1)] as PresignInput)).length
      n += 8
    }
    return n
  }

  // Warm-up (JIT, SDK signing-key cache, endpoint cache).
  runOurs(ms)
  await runSdk(ms)

  const oursRuns: number[] = []
  const sdkRuns: number[] = []
  for (let r = 0; r < rounds; r++) {
    // Alternate which side goes first so drift (thermal, GC debt) doesn't favour one.
    for (const which of r % 2 === 0 ? ['ours', 'sdk'] : ['sdk', 'ours']) {
      const t0 = performance.now()
      const n = which === 'ours' ? runOurs(ms) : await runSdk(ms)
      const rate = n / ((performance.now() - t0) / 1000);
      (which === 'ours' ? oursRuns : sdkRuns).push(rate)
    }
  }
  if (sink === 0) throw new Error('nothing was signed')
  const o = median(oursRuns)
  const s = median(sdkRuns)
  return { rounds, msPerRun: ms, inputs: N_INPUTS, seed, oursUrlsPerSecond: o, sdkUrlsPerSecond: s, ratio: o / s, oursRuns, sdkRuns }
}
