/**
 * Permission answers are parsed strictly, over real HTTP with the stub permission service:
 * anything two JSON readers could disagree on (a duplicate key at any depth, a byte order
 * mark, bytes that are not UTF-8, a lone surrogate, an overflowing number) is "unavailable":
 * 503, fail closed, never an allow. Plus the strict reader itself on the future answer shapes.
 */
import t from 'tap'
import type { ServerResponse } from 'node:http'
import { build } from '../helpers/app.js'
import { bearer, tokenFor } from '../helpers/tokens.js'
import { parseStrictJson, parseStrictJsonBytes, StrictJsonError } from '../../src/permissions/strict-json.js'

const DOWNLOAD = { key: 'users/alice/photo.jpg' }

/** Sends `body` verbatim (not re-serialized by JSON.stringify) as a 200 JSON answer. */
const raw = (body: string | Buffer) => (_check: unknown, res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(body)
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf])

t.test('ambiguous 200 answers → 503 PERMISSION_SERVICE_UNAVAILABLE, never a URL', async (t) => {
  const app = await build(t)
  const cases: Array<[string, string | Buffer]> = [
    ['duplicate allowed, false then true', '{"allowed": false, "allowed": true}'],
    ['duplicate allowed, true then false', '{"allowed": true, "allowed": false}'],
    ['duplicate allowed, same value twice', '{"allowed": true, "allowed": true}'],
    ['duplicate allowed, far apart', '{"allowed": false, "reason": "owner", "ttl": 60, "allowed": true}'],
    ['duplicate allowed, one escaped', '{"allowed": false, "\\u0061llowed": true}'],
    ['duplicate key nested in another member', '{"allowed": true, "limits": {"maxBytes": 1, "maxBytes": 1000000000}}'],
    ['duplicate key inside an array', '{"allowed": true, "results": [{"allowed": false, "allowed": true}]}'],
    ['UTF-8 byte order mark', Buffer.concat([BOM, Buffer.from('{"allowed": true}')])],
    ['bytes that are not UTF-8', Buffer.concat([Buffer.from('{"allowed": true, "reason": "'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])],
    ['lone surrogate escape', '{"allowed": true, "reason": "\\ud800"}'],
    ['number overflowing to Infinity', '{"allowed": true, "ttl": 1e400}'],
    ['trailing garbage', '{"allowed": true} {"allowed": false}'],
    ['trailing comma', '{"allowed": true,}'],
    ['single quotes', "{'allowed': true}"],
    ['allowed as a string', '{"allowed": "true"}'],
    ['an array', '[{"allowed": true}]'],
    ['nested 100 deep', `{"allowed": true, "x": ${'['.repeat(100)}${']'.repeat(100)}}`]
  ]
  for (const [name, body] of cases) {
    t.test(name, async (t) => {
      app.permissions.respond(raw(body))
      const before = app.permissions.received.length
      const res = await app.post('/v1/download-urls', DOWNLOAD, bearer(tokenFor('alice')))
      t.equal(res.status, 503, '503')
      t.ok(res.headers.get('retry-after'), 'Retry-After')
      const problem = await res.json() as Record<string, unknown>
      t.equal(problem.code, 'PERMISSION_SERVICE_UNAVAILABLE')
      t.notOk('url' in problem, 'no URL')
      t.equal(app.permissions.received.length - before, 1, 'the service was asked once')
    })
  }
  t.test('the request log says why', async (t) => {
    const reasons = app.logs.map((line) => line.permission).filter((reason) => typeof reason === 'string')
    t.ok(reasons.includes('unavailable: malformed answer: duplicate key "allowed" at offset 33'), 'duplicate key')
    t.ok(reasons.includes('unavailable: malformed answer: byte order mark'), 'byte order mark')
  })
})

t.test('clean answers still work, whatever the whitespace or extra members', async (t) => {
  const app = await build(t)
  const cases: Array<[string, string, number]> = [
    ['allowed', '{"allowed":true}', 200],
    ['allowed, spaced and with newlines', ' \r\n\t{ "allowed" : true }\n', 200],
    ['allowed with nested members', '{"allowed": true, "limits": {"maxBytes": 1048576, "contentTypes": ["image/png"], "writeOnce": true}, "reason": "owner \\u00e9"}', 200],
    ['denied', '{"allowed": false}', 403],
    ['__proto__ is just a member', '{"__proto__": {"allowed": true}, "allowed": false}', 403]
  ]
  for (const [name, body, status] of cases) {
    app.permissions.respond(raw(body))
    const res = await app.post('/v1/download-urls', DOWNLOAD, bearer(tokenFor('alice')))
    t.equal(res.status, status, name)
  }
})

t.test('the strict reader', async (t) => {
  const refuse = (text: string, message: RegExp) => t.throws(() => parseStrictJson(text), { name: 'StrictJsonError', message }, text)
  refuse('{"a": 1, "a": 1}', /duplicate key "a"/)
  refuse('{"results": [{"allowed": true}, {"allowed": true, "allowed": false}]}', /duplicate key "allowed"/)
  refuse('{"a": {"b": {"c": 1, "c": 2}}}', /duplicate key "c"/)
  refuse('{"a": "\u0001"}', /control character/)
  refuse('{"a": 01}', /unexpected data|expected/)
  refuse('{"a": NaN}', /unexpected character/)
  refuse('', /unexpected character/)
  refuse('"\\udc00\\ud800"', /lone surrogate/)
  t.throws(() => parseStrictJsonBytes(Buffer.concat([BOM, Buffer.from('{}')])), StrictJsonError, 'BOM')

  // Same values as JSON.parse for well-formed documents.
  const documents = ['{"allowed":true,"limits":{"maxBytes":5e6,"contentTypes":["a/b","c/d"],"writeOnce":false}}', '[1,-2.5e-3,0,null,"x\\"\\\\\\/\\b\\f\\n\\r\\t\\u20ac\\ud83d\\ude00"]', '{"results":[{"allowed":true},{"allowed":false}]}', '"plain"', '0']
  for (const document of documents) t.same(parseStrictJson(document), JSON.parse(document), document)
  const parsed = parseStrictJson('{"__proto__": 1}') as Record<string, unknown>
  t.equal(Object.getPrototypeOf(parsed), null, 'null prototype')
  t.equal(Object.getOwnPropertyDescriptor(parsed, '__proto__')?.value, 1, '__proto__ is an own data member')
})
