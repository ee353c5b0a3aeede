import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findStickyMember, setStickySecret, stickyCookieValue, stickySetCookie } from '../../gateway/src/balancer/sticky.js';
import { members } from './fixtures.js';

test('a sticky cookie leads back to its target while that target is eligible', () => {
  const pool = members([1, 1, 1]);
  const value = stickyCookieValue(pool[1]!);
  assert.match(value, /^1\.[0-9a-f]+\.[A-Za-z0-9_-]{16}$/);
  assert.equal(findStickyMember(value, pool), pool[1]);
  assert.equal(findStickyMember(value, [pool[0]!, pool[2]!]), undefined);
});

test('forged, stale and foreign cookie values are ignored', () => {
  const pool = members([1, 1, 1]);
  const value = stickyCookieValue(pool[1]!);
  assert.equal(findStickyMember(value.replace(/^1\./, '2.'), pool), undefined);
  assert.equal(findStickyMember(value.slice(0, -1) + (value.endsWith('A') ? 'B' : 'A'), pool), undefined);
  assert.equal(findStickyMember('', pool), undefined);
  assert.equal(findStickyMember(undefined, pool), undefined);
  assert.equal(findStickyMember('garbage', pool), undefined);
  // Same position, different worker (the config was edited): no longer sticks.
  const edited = members([1, 1, 1], ['http://10.0.0.1:8000', 'http://10.9.9.9:8000', 'http://10.0.0.3:8000']);
  assert.equal(findStickyMember(value, edited), undefined);
});

test('nodes sharing a secret honour each other\'s cookies, and the Set-Cookie carries the TTL', () => {
  setStickySecret('shared-by-every-node');
  const a = members([1, 1]);
  const b = members([1, 1]);
  assert.equal(findStickyMember(stickyCookieValue(a[0]!), b), b[0]);
  assert.match(stickySetCookie('sb_sticky', a[0]!, 3_600_000), /^sb_sticky=0\.[0-9a-f]+\.\S+; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax$/);
  assert.doesNotMatch(stickySetCookie('sb_sticky', a[0]!, 0), /Max-Age/);
});
