import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientIpFrom, TrustedProxies } from '../../gateway/src/balancer/client-ip.js';

const trusted = new TrustedProxies(['10.0.0.0/8', '192.168.1.7', 'fd00::/8']);

test('behind a trusted proxy the client is the right-most untrusted x-forwarded-for entry', () => {
  assert.equal(clientIpFrom('10.1.2.3', '203.0.113.5', trusted), '203.0.113.5');
  // Two trusted hops are skipped; what the client wrote on the left (a spoof) is never believed.
  assert.equal(clientIpFrom('10.1.2.3', '6.6.6.6, 203.0.113.5, 10.9.9.9', trusted), '203.0.113.5');
  assert.equal(clientIpFrom('192.168.1.7', ['198.51.100.1', '10.0.0.2'], trusted), '198.51.100.1');
  // Every hop trusted: the left-most one.
  assert.equal(clientIpFrom('10.1.2.3', '10.5.5.5, 10.6.6.6', trusted), '10.5.5.5');
  // Garbage stops the walk at the last trusted hop.
  assert.equal(clientIpFrom('10.1.2.3', 'unknown, 10.6.6.6', trusted), '10.6.6.6');
});

test('x-forwarded-for from an untrusted peer is ignored', () => {
  assert.equal(clientIpFrom('203.0.113.5', '10.0.0.1', trusted), '203.0.113.5');
  assert.equal(clientIpFrom('192.168.1.8', '1.2.3.4', trusted), '192.168.1.8');
  assert.equal(clientIpFrom('10.1.2.3', '1.2.3.4', undefined), '10.1.2.3');
  assert.equal(clientIpFrom('10.1.2.3', '1.2.3.4', new TrustedProxies([])), '10.1.2.3');
});

test('IPv6 peers and entries, and IPv4 seen through a dual-stack socket', () => {
  assert.equal(clientIpFrom('fd12:3456::1', '2001:db8::42', trusted), '2001:db8::42');
  assert.equal(clientIpFrom('fe80::1', '2001:db8::42', trusted), 'fe80::1');
  assert.equal(clientIpFrom('::ffff:10.0.0.9', '198.51.100.3', trusted), '198.51.100.3');
  assert.equal(clientIpFrom('::ffff:203.0.113.1', undefined, trusted), '203.0.113.1');
  assert.ok(new TrustedProxies(['2001:db8:abcd::/48']).contains('2001:db8:abcd:12::5'));
  assert.ok(!new TrustedProxies(['2001:db8:abcd::/48']).contains('2001:db8:abce::5'));
  assert.ok(new TrustedProxies(['0.0.0.0/0']).contains('8.8.8.8'));
  assert.ok(!new TrustedProxies(['0.0.0.0/0']).contains('2001:db8::1'));
  assert.ok(new TrustedProxies(['::/0']).contains('2001:db8::1'));
  assert.ok(new TrustedProxies(['1.2.3.4']).contains('::ffff:1.2.3.4'));
  assert.ok(new TrustedProxies(['::ffff:1.2.3.4']).contains('1.2.3.4'));
  assert.ok(new TrustedProxies(['fe80::/10']).contains('fe80::1%eth0'));
});

test('a malformed trusted-proxy entry is refused up front', () => {
  assert.throws(() => new TrustedProxies(['10.0.0.0/33']), /prefix/);
  assert.throws(() => new TrustedProxies(['not-an-ip']), /not an IP/);
  assert.throws(() => new TrustedProxies(['fd00::/129']), /prefix/);
});
