/**
 * Micro-benchmark: our presigner vs the SDK's getSignedUrl (test/signing/oracle.ts), same process,
 * same inputs, alternating timed runs; prints median URLs/s, µs/URL and the ratio.
 *
 *   npx tsx bench/signer.ts            # ROUNDS=9 MS=300 SEED=1 by default
 *   ROUNDS=15 MS=500 npx tsx bench/signer.ts
 *
 * Inputs are a fixed, seeded mix of all four operations (odd keys, headers, response overrides)
 * against an R2-style endpoint; signingDate is left to default to "now", as in the routes.
 */
import { createPresigner } from '../src/signing/presigner.js';
import type { PresignInput, PresignerConfig } from '../src/signing/presigner.js';
import { genInput, Rng } from '../test/signing/arbitrary.js';
import { createOracle } from '../test/signing/oracle.js';

const ROUNDS = Number(process.env['ROUNDS'] ?? 9);
const MS = Number(process.env['MS'] ?? 300);
const SEED = Number(process.env['SEED'] ?? 1);
const N_INPUTS = 1024;

const config: PresignerConfig = {
  endpoint: 'https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com',
  region: 'auto',
  accessKeyId: '0123456789abcdef0123456789abcdef',
  secretAccessKey: 'f'.repeat(64),
  forcePathStyle: false,
};
const ours = createPresigner(config);
const oracle = createOracle(config);

const rng = new Rng(SEED);
const dated: PresignInput[] = Array.from({ length: N_INPUTS }, () => genInput(rng));
const inputs: PresignInput[] = dated.map(({ signingDate: _, ...rest }) => rest);

// Both sides must be doing the same work: check equality on the dated copies first.
for (const input of dated) {
  if (ours.presign(input).url !== (await oracle.presign(input))) {
    throw new Error(`outputs differ for ${JSON.stringify(input)}`);
  }
}

let sink = 0;

function runOurs(ms: number): number {
  const end = performance.now() + ms;
  let n = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 64; i++) sink += ours.presign(inputs[(n + i) & (N_INPUTS - 1)] as PresignInput).url.length;
    n += 64;
  }
  return n;
}

async function runSdk(ms: number): Promise<number> {
  const end = performance.now() + ms;
  let n = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 8; i++) sink += (await oracle.presign(inputs[(n + i) & (N_INPUTS - 1)] as PresignInput)).length;
    n += 8;
  }
  return n;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

// Warm-up (JIT, SDK signing-key cache, endpoint cache).
runOurs(MS);
await runSdk(MS);

const oursRates: number[] = [];
const sdkRates: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  // Alternate which side goes first so drift (thermal, GC debt) doesn't favour one.
  const order = r % 2 === 0 ? ['ours', 'sdk'] : ['sdk', 'ours'];
  for (const which of order) {
    const t0 = performance.now();
    const n = which === 'ours' ? runOurs(MS) : await runSdk(MS);
    const rate = n / ((performance.now() - t0) / 1000);
    (which === 'ours' ? oursRates : sdkRates).push(rate);
  }
}

const o = median(oursRates);
const s = median(sdkRates);
const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
console.log(`node ${process.version}, ${ROUNDS} rounds x ${MS} ms each, ${N_INPUTS} inputs (seed ${SEED})`);
console.log(`presigner     ${fmt(o).padStart(10)} URLs/s  ${(1e6 / o).toFixed(2).padStart(8)} µs/URL`);
console.log(`getSignedUrl  ${fmt(s).padStart(10)} URLs/s  ${(1e6 / s).toFixed(2).padStart(8)} µs/URL`);
console.log(`ratio         ${(o / s).toFixed(1)}x`);
if (sink === 0) console.log(''); // keep results observable
