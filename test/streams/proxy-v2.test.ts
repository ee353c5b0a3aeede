import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeProxyV2 } from '../../gateway/src/streams/proxy-v2.js';

describe('PROXY protocol v2 encoder (sent to stream targets)', () => {
  test('two IPv4 endpoints, also when a dual-stack socket writes them IPv4-mapped, give a 28-byte TCP4 header', () => {
    const h = encodeProxyV2({ address: '::ffff:203.0.113.7', port: 51000 }, { address: '10.0.0.1', port: 7000 });
    assert.equal(h.length, 28);
    assert.equal(h.toString('hex', 0, 16), '0d0a0d0a000d0a515549540a2111000c');
    assert.equal([...h.subarray(16, 20)].join('.'), '203.0.113.7');
    assert.equal([...h.subarray(20, 24)].join('.'), '10.0.0.1');
    assert.equal(h.readUInt16BE(24), 51000);
    assert.equal(h.readUInt16BE(26), 7000);
  });

  test('an IPv6 client gives a 52-byte TCP6 header; an IPv4 destination beside it is mapped into ::ffff:0:0/96', () => {
    const h = encodeProxyV2({ address: '2001:db8::1%eth0', port: 443 }, { address: '192.0.2.5', port: 8443 });
    assert.equal(h.length, 52);
    assert.equal(h[13], 0x21);
    assert.equal(h.readUInt16BE(14), 36);
    assert.equal(h.toString('hex', 16, 32), '20010db8000000000000000000000001');
    assert.equal(h.toString('hex', 32, 48), '00000000000000000000ffffc0000205');
    assert.equal(h.readUInt16BE(48), 443);
    assert.equal(h.readUInt16BE(50), 8443);
  });

  test('an address that is not IP (a Unix socket) gives a LOCAL header with no addresses', () => {
    const h = encodeProxyV2({ address: '', port: 0 }, { address: '/run/sb.sock', port: 0 });
    assert.equal(h.toString('hex'), '0d0a0d0a000d0a515549540a20000000');
  });
});
