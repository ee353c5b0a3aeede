import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { hashKeyFor, readCookie, readQuery } from '../../gateway/src/balancer/hash-key.js';

const req = (url: string, headers: Record<string, string | string[]>) => ({ url, headers }) as unknown as IncomingMessage;

test('hashOn reads the key from a header, a cookie, a query parameter, the consumer or the address', () => {
  const r = req('/v1/chat?session=s%2042&x=1', { 'x-session-id': 'abc', cookie: 'a=1; sid="xyz"; b=2' });
  assert.equal(hashKeyFor({ source: 'header', name: 'X-Session-Id' }, r, '192.0.2.1', undefined), 'abc');
  assert.equal(hashKeyFor({ source: 'cookie', name: 'sid' }, r, '192.0.2.1', undefined), 'xyz');
  assert.equal(hashKeyFor({ source: 'query', name: 'session' }, r, '192.0.2.1', undefined), 's 42');
  assert.equal(hashKeyFor({ source: 'consumer' }, r, '192.0.2.1', 'acme'), 'acme');
  assert.equal(hashKeyFor({ source: 'ip' }, r, '192.0.2.1', 'acme'), '192.0.2.1');
});

test('a request without the key yields undefined so the picker falls back', () => {
  const r = req('/v1/chat', {});
  assert.equal(hashKeyFor({ source: 'header', name: 'x-session-id' }, r, '192.0.2.1', undefined), undefined);
  assert.equal(hashKeyFor({ source: 'cookie', name: 'sid' }, r, '192.0.2.1', undefined), undefined);
  assert.equal(hashKeyFor({ source: 'query', name: 'session' }, r, '192.0.2.1', undefined), undefined);
  assert.equal(hashKeyFor({ source: 'consumer' }, r, '192.0.2.1', undefined), undefined);
});

test('cookie and query parsing take whole names and the first value only', () => {
  assert.equal(readCookie('xsid=1; sid=2', 'sid'), '2');
  assert.equal(readCookie('sid=2;sid=3', 'sid'), '2');
  assert.equal(readCookie('  sid = 7 ', 'sid'), '7');
  assert.equal(readCookie('sidx=1', 'sid'), undefined);
  assert.equal(readQuery('/p?xsession=1&session=2&session=3', 'session'), '2');
  assert.equal(readQuery('/p?session', 'session'), '');
  assert.equal(readQuery('/p?a=1#session=2', 'session'), undefined);
  assert.equal(readQuery('/p?sess%69on=9', 'session'), '9');
  assert.equal(readQuery('/p?session=%E0%A4%A', 'session'), '%E0%A4%A');
});
