/**
 * Micro-benchmark: our presigner vs the SDK's getSignedUrl (test/signing/oracle.ts), same process,
 * same inputs, alternating timed runs; prints median URLs/s, µs/URL and the ratio.
 *
 *   npx tsx bench/signer.ts            # ROUNDS=9 MS=300 SEED=1 by default
 *   ROUNDS=15 MS=500 npx tsx bench/signer.ts
 *
 * The measurement itself is in bench/signer-measure.ts (`npm run bench` runs it too).
 */
import { measureSigner } from './signer-measure.js'

const ROUNDS = Number(process.env['ROUNDS'] ?? 9)
const MS = Number(process.env['MS'] ?? 300)
const SEED = Number(process.env['SEED'] ?? 1)

const r = await measureSigner({ rounds: ROUNDS, ms: MS, seed: SEED })
const fmt = (x: number): string => Math.round(x).toLocaleString('en-US')
console.log(`node ${process.version}, ${ROUNDS} rounds x ${MS} ms each, ${r.inputs} inputs (seed ${SEED})`)
console.log(`presigner     ${fmt(r.oursUrlsPerSecond).padStart(10)} URLs/s  ${(1e6 / r.oursUrlsPerSecond).toFixed(2).padStart(8)} µs/URL`)
console.log(`getSignedUrl  ${fmt(r.sdkUrlsPerSecond).padStart(10)} URLs/s  ${(1e6 / r.sdkUrlsPerSecond).toFixed(2).padStart(8)} µs/URL`)
console.log(`ratio         ${r.ratio.toFixed(1)}x`)
