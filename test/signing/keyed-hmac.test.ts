/**
 * The presigner's HMAC (two one-shot SHA-256 calls on pre-padded key blocks) against node's
 * createHmac, for the keys and messages SigV4 uses and for the edges of the padding: keys longer
 * than a block, empty and multi-byte messages, messages that outgrow the scratch buffer.
 */
import { createHmac, randomBytes } from 'node:crypto'
import t from 'tap'
import { keyedHmacSha256Hex } from '../../src/signing/sigv4.js'
import { genKey, Rng, seedFromEnv } from './arbitrary.js'

const reference = (key: Buffer, data: string): string => createHmac('sha256', key).update(data, 'utf8').digest('hex')

t.test('equals createHmac for random keys and messages', async (t) => {
  const seed = seedFromEnv()
  const rng = new Rng(seed)
  let compared = 0
  for (let run = 0; run < 500; run++) {
    const key = Buffer.from(Array.from({ length: rng.int(0, 200) }, () => rng.int(0, 255)))
    const hmac = keyedHmacSha256Hex(key)
    // Several messages through one keyed HMAC: its scratch buffer is reused (and grown) between calls.
    for (let m = rng.int(1, 4); m > 0; m--) {
      const message = Array.from({ length: rng.int(0, 12) }, () => genKey(rng)).join('\n')
      if (hmac(message) !== reference(key, message)) {
        t.fail(`seed ${seed}, key ${key.toString('hex')}, message ${JSON.stringify(message)}`)
        return
      }
      compared++
    }
  }
  t.ok(compared >= 500, `${compared} MACs agree (500 keys of 0..200 bytes; object-key-like messages, multi-byte too; seed ${seed})`)
})

t.test('the edges of the padding', async (t) => {
  const hmac32 = keyedHmacSha256Hex(randomBytes(32))
  for (const key of [Buffer.alloc(0), randomBytes(64), randomBytes(65), randomBytes(32)]) {
    const hmac = keyedHmacSha256Hex(key)
    for (const message of ['', 'a', 'é', '€'.repeat(300), 'x'.repeat(5000), 'AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n' + 'f'.repeat(64)]) {
      t.equal(hmac(message), reference(key, message), `key of ${key.length} bytes, message of ${message.length} chars`)
    }
  }
  // A long message, then a short one: the short one must not see the long one's tail.
  const key = randomBytes(32)
  const hmac = keyedHmacSha256Hex(key)
  hmac('y'.repeat(3000))
  t.equal(hmac('short'), reference(key, 'short'))
  t.not(hmac32('short'), hmac('short'), 'another key, another MAC')
})
