/**
 * objectKeyFault: the rule each key breaks, in words. Checked against a plain reference (count the
 * bytes, split on "/") for hand-picked edges and for random keys, so the fast paths (byte counting
 * only for long keys, one scan for bad segments) give the same verdicts.
 */
import t from 'tap'
import { MAX_KEY_BYTES, objectKeyFault } from '../../src/schemas/object-key.js'
import { genKey, Rng, seedFromEnv } from '../signing/arbitrary.js'

function reference (key: string): string | undefined {
  if (key.length === 0) return 'is empty'
  const bytes = Buffer.byteLength(key, 'utf8')
  if (bytes > MAX_KEY_BYTES) return `is ${bytes} UTF-8 bytes long; at most ${MAX_KEY_BYTES} are allowed`
  if (!key.isWellFormed()) return 'is not well-formed Unicode (it has a lone surrogate)'
  // eslint-disable-next-line no-control-regex -- the rule under test
  const control = /[\u0000-\u001f\u007f-\u009f]/.exec(key)
  if (control !== null) return `has a control character (U+${control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}), which keys may not contain`
  if (key.startsWith('/')) return 'starts with "/"'
  const segments = key.split('/')
  if (segments.includes('')) return 'has an empty path segment ("//" or a trailing "/")'
  if (segments.includes('.')) return 'has a "." path segment'
  if (segments.includes('..')) return 'has a ".." path segment'
  return undefined
}

t.test('edges', async (t) => {
  const cases: Array<[string, string | undefined]> = [
    ['a', undefined],
    ['videos/a.mp4', undefined],
    ['...', undefined],
    ['a/.../b', undefined],
    ['.a/b.', undefined],
    ['a..b/..c', undefined],
    ['', 'is empty'],
    ['/a', 'starts with "/"'],
    ['a//b', 'has an empty path segment ("//" or a trailing "/")'],
    ['a/', 'has an empty path segment ("//" or a trailing "/")'],
    ['.', 'has a "." path segment'],
    ['a/./b', 'has a "." path segment'],
    ['a/.', 'has a "." path segment'],
    ['..', 'has a ".." path segment'],
    ['../a', 'has a ".." path segment'],
    ['a/..', 'has a ".." path segment'],
    ['a/../b/./c', 'has a "." path segment'],
    ['a/..//b', 'has an empty path segment ("//" or a trailing "/")'],
    ['x'.repeat(1024), undefined],
    ['x'.repeat(1025), 'is 1025 UTF-8 bytes long; at most 1024 are allowed'],
    ['é'.repeat(512), undefined],
    ['é'.repeat(513), 'is 1026 UTF-8 bytes long; at most 1024 are allowed'],
    ['€'.repeat(341), undefined],
    ['€'.repeat(342), 'is 1026 UTF-8 bytes long; at most 1024 are allowed'],
    ['a\u0007b', 'has a control character (U+0007), which keys may not contain'],
    ['a\ud800', 'is not well-formed Unicode (it has a lone surrogate)']
  ]
  for (const [key, fault] of cases) {
    t.equal(objectKeyFault(key), fault, `${JSON.stringify(key.length > 20 ? key.slice(0, 8) + '…' : key)} (${key.length} chars)`)
    t.equal(reference(key), fault, 'the reference agrees')
  }
})

t.test('random keys: the same verdict as the reference', async (t) => {
  const seed = seedFromEnv()
  const rng = new Rng(seed)
  const pieces = ['/', '//', '.', '..', '/./', '/../', 'a', 'é', '€', '😀', '\u0001']
  let faults = 0
  for (let i = 0; i < 5000; i++) {
    let key = genKey(rng)
    for (let n = rng.int(0, 3); n > 0; n--) {
      const at = rng.int(0, key.length)
      key = key.slice(0, at) + pieces[rng.int(0, pieces.length - 1)] + key.slice(at)
    }
    if (rng.bool(0.05)) key = key.repeat(rng.int(2, 40))
    const expected = reference(key)
    if (expected !== undefined) faults++
    if (objectKeyFault(key) !== expected) {
      t.fail(`seed ${seed}: ${JSON.stringify(key)}: ${String(objectKeyFault(key))} vs ${String(expected)}`)
      return
    }
  }
  t.ok(faults > 500 && faults < 4500, `5000 keys agree, valid and faulty alike (${faults} faulty; seed ${seed})`)
})
