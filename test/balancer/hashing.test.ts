import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPicker as consistentHash } from '../../gateway/src/balancer/consistent-hash.js';
import { hash32, hashBytes } from '../../gateway/src/balancer/hash.js';
import { createPicker as ipHash } from '../../gateway/src/balancer/ip-hash.js';
import type { PoolMember } from '../../gateway/src/balancer/picker.js';
import { ctx, members, upstream } from './fixtures.js';

const KEYS = Array.from({ length: 10_000 }, (_, i) => `session-${i}`);
const URLS = [1, 2, 3, 4, 5].map((i) => `http://10.1.0.${i}:8000`);

function place(pool: readonly PoolMember[], eligible: readonly PoolMember[] = pool): string[] {
  const picker = consistentHash({ members: pool, upstream: upstream('consistent-hash', pool, { hashOn: { source: 'header', name: 'x-session-id' } }) });
  return KEYS.map((k) => picker.pick(eligible, ctx('192.0.2.1', k)).target.url);
}

test('murmur3 matches the reference vectors, ASCII and UTF-8 alike', () => {
  assert.equal(hash32(''), 0);
  assert.equal(hash32('', 1), 0x514e28b7);
  assert.equal(hash32('hello'), 0x248bfa47);
  assert.equal(hash32('The quick brown fox jumps over the lazy dog'), 0x2e4ff723);
  // The no-allocation ASCII path and the byte path agree for every tail length; non-ASCII
  // strings hash their UTF-8 bytes.
  for (const s of ['a', 'ab', 'abc', 'abcd', 'abcde', 'http://10.0.0.1:8000#17']) assert.equal(hash32(s, 7), hashBytes(Buffer.from(s), 7));
  for (const s of ['café', 'ü', 'abcé', '日本語キー']) assert.equal(hash32(s), hashBytes(Buffer.from(s, 'utf8')));
});

test('the same key always lands on the same target', () => {
  const pool = members([1, 1, 1, 1, 1], URLS);
  const first = place(pool);
  assert.deepEqual(place(pool), first);
  // Every target gets a fair slice of 10 000 keys (ideal 2000).
  for (const url of URLS) {
    const n = first.filter((u) => u === url).length;
    assert.ok(n > 1500 && n < 2500, `${url} got ${n}`);
  }
});

test('removing one of five targets from the configuration moves only its own keys, about a fifth', () => {
  const all = place(members([1, 1, 1, 1, 1], URLS));
  const without = URLS.filter((_, i) => i !== 2);
  const after = place(members([1, 1, 1, 1], without));
  let moved = 0;
  for (let i = 0; i < KEYS.length; i++) {
    if (all[i] === after[i]) continue;
    moved++;
    assert.equal(all[i], URLS[2], `key ${KEYS[i]} moved off a target that stayed`);
  }
  assert.ok(moved / KEYS.length <= 1 / 5 + 0.05, `moved ${moved}`);
  assert.ok(moved > 0);
});

test('a target becoming ineligible moves only its own keys, and they come back when it returns', () => {
  const pool = members([1, 1, 1, 1, 1], URLS);
  const picker = consistentHash({ members: pool, upstream: upstream('consistent-hash', pool, { hashOn: { source: 'header', name: 'x' } }) });
  const before = KEYS.map((k) => picker.pick(pool, ctx('192.0.2.1', k)).index);
  const eligible = pool.filter((m) => m.index !== 1);
  const during = KEYS.map((k) => picker.pick(eligible, ctx('192.0.2.1', k)).index);
  for (let i = 0; i < KEYS.length; i++) {
    if (before[i] !== 1) assert.equal(during[i], before[i]);
    else assert.notEqual(during[i], 1);
  }
  assert.deepEqual(KEYS.map((k) => picker.pick(pool, ctx('192.0.2.1', k)).index), before);
});

test('a weight-3 target owns about three times the keys of a weight-1 target', () => {
  const pool = members([1, 3], URLS.slice(0, 2));
  const urls = place(pool);
  const heavy = urls.filter((u) => u === URLS[1]).length / KEYS.length;
  assert.ok(heavy > 0.68 && heavy < 0.82, `heavy share ${heavy}`);
});

test('a request without the key hashes the client address, or rotates when the fallback says round-robin', () => {
  const pool = members([1, 1, 1, 1, 1], URLS);
  const byIp = consistentHash({ members: pool, upstream: upstream('consistent-hash', pool, { hashOn: { source: 'header', name: 'x' } }) });
  const a = byIp.pick(pool, ctx('198.51.100.7', undefined));
  for (let i = 0; i < 20; i++) assert.equal(byIp.pick(pool, ctx('198.51.100.7', undefined)), a);
  const rr = consistentHash({
    members: pool,
    upstream: upstream('consistent-hash', pool, { hashOn: { source: 'header', name: 'x', fallback: 'round-robin' } }),
  });
  const seen = new Set<number>();
  for (let i = 0; i < 5; i++) seen.add(rr.pick(pool, ctx('198.51.100.7', undefined)).index);
  assert.equal(seen.size, 5);
});

test('ip-hash sends one address to one target and spreads many addresses over all of them', () => {
  const pool = members([1, 1, 1, 1, 1], URLS);
  const picker = ipHash({ members: pool, upstream: upstream('ip-hash', pool) });
  const first = picker.pick(pool, ctx('203.0.113.9'));
  for (let i = 0; i < 50; i++) assert.equal(picker.pick(pool, ctx('203.0.113.9')), first);
  const counts = [0, 0, 0, 0, 0];
  for (let i = 0; i < 5000; i++) counts[picker.pick(pool, ctx(`10.${(i >> 8) & 255}.${i & 255}.${(i * 7) & 255}`)).index]!++;
  for (const c of counts) assert.ok(c > 700 && c < 1300, `counts ${counts}`);
  // A target going down moves only its own clients.
  const eligible = pool.slice(1);
  for (let i = 0; i < 2000; i++) {
    const ip = `172.16.${(i >> 8) & 255}.${i & 255}`;
    const before = picker.pick(pool, ctx(ip));
    if (before.index !== 0) assert.equal(picker.pick(eligible, ctx(ip)), before);
  }
});
