/**
 * TRUST_PROXY: the client address for per-address limits. Off: the socket's peer, whatever the
 * headers say. On: Fly-Client-IP, else the last X-Forwarded-For entry (the one the proxy added),
 * never a forged earlier entry or a value that is not an address.
 */
import t from 'tap'
import { clientAddress } from '../../src/http/client-address.js'

t.test('without TRUST_PROXY the headers are ignored', async (t) => {
  t.equal(clientAddress({ 'fly-client-ip': '203.0.113.7', 'x-forwarded-for': '198.51.100.1' }, '10.0.0.2', false), '10.0.0.2')
  t.equal(clientAddress({}, undefined, false), 'unknown')
})

t.test('with TRUST_PROXY', async (t) => {
  t.equal(clientAddress({ 'fly-client-ip': '203.0.113.7', 'x-forwarded-for': '198.51.100.1' }, '10.0.0.2', true), '203.0.113.7', 'Fly-Client-IP first')
  t.equal(clientAddress({ 'fly-client-ip': '2001:db8::1' }, '10.0.0.2', true), '2001:db8::1', 'IPv6')
  t.equal(clientAddress({ 'x-forwarded-for': '1.1.1.1, 198.51.100.1' }, '10.0.0.2', true), '198.51.100.1', 'the entry the proxy appended, not the forgeable first one')
  t.equal(clientAddress({ 'x-forwarded-for': ['1.1.1.1', '198.51.100.9'] as unknown as string }, '10.0.0.2', true), '198.51.100.9', 'repeated headers')
  t.equal(clientAddress({ 'fly-client-ip': 'evil', 'x-forwarded-for': 'also-evil' }, '10.0.0.2', true), '10.0.0.2', 'not addresses: the socket')
  t.equal(clientAddress({}, '10.0.0.2', true), '10.0.0.2', 'no headers: the socket')
})
