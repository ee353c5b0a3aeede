import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isValidHost, normalizePath } from '../../gateway/src/node/request-target.js';

test('RFC 3986 §5.2.4 dot-segment removal, on absolute paths', () => {
  const cases: Array<[string, string]> = [
    ['/a/b/c/./../../g', '/a/g'],
    ['/a/b/c/../../../g', '/g'],
    ['/a/b/c/../../../../g', '/g'],
    ['/./g', '/g'],
    ['/../g', '/g'],
    ['/g.', '/g.'],
    ['/.g', '/.g'],
    ['/g..', '/g..'],
    ['/..g', '/..g'],
    ['/a/./g/.', '/a/g/'],
    ['/a/g/..', '/a/'],
    ['/.', '/'],
    ['/..', '/'],
    ['/', '/'],
    ['/a/b/', '/a/b/'],
  ];
  for (const [input, expected] of cases) assert.equal(normalizePath(input), expected, input);
});

test('slashes merge, unreserved escapes decode, others stay encoded in upper case', () => {
  assert.equal(normalizePath('//a///b//'), '/a/b/');
  assert.equal(normalizePath('/%41%62%2D%2e%5F%7e'), '/Ab-._~');
  assert.equal(normalizePath('/a%20b/%e2%82%ac'), '/a%20b/%E2%82%AC');
  assert.equal(normalizePath('/%25%32%65'), '/%252e', 'an encoded "%" is not decoded, so nothing is decoded twice');
});

test('refusals carry a code and say why', () => {
  for (const input of ['/a%2fb', '/a%5Cb', '/a\\b', '/a%00', '/a%g0', '/a%', '/a#b', '/..;/x', '/a/.;p/b', 'a/b'])
    assert.equal(typeof normalizePath(input), 'object', input);
  const refusal = normalizePath('/public/..%2fv1') as { code: string; detail: string };
  assert.equal(refusal.code, 'bad-request-target');
  assert.match(refusal.detail, /encoded slash/);
});

test('normalizing is idempotent over a large random sample', () => {
  const pieces = ['/', '.', '..', '%2e', '%2E', '%41', '%20', 'a', 'b', ';', '~', '%7e', '-'];
  let state = 12345;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 4294967296;
  for (let i = 0; i < 50_000; i++) {
    let path = '/';
    for (let j = Math.floor(next() * 12); j > 0; j--) path += pieces[Math.floor(next() * pieces.length)];
    const once = normalizePath(path);
    if (typeof once !== 'string') continue;
    assert.equal(normalizePath(once), once, path);
    assert.ok(!once.includes('//') && !once.split('/').some((s) => s === '.' || s === '..'), `${path} → ${once}`);
  }
});

test('Host syntax: host[:port], bracketed IPv6, nothing else', () => {
  for (const host of ['a', 'api.example.com', 'API.Example.COM:443', '10.0.0.1:8080', '[::1]', '[2001:db8::1]:443', 'x_y.internal', 'a:0', 'a:65535'])
    assert.equal(isValidHost(host), true, host);
  for (const host of ['', ':80', 'a:', 'a:65536', 'a:123456', 'a:8o', 'a/b', 'a b', 'u@a', 'a,b', '[::1', '[::1]x', '[::1]:', '[zz]', 'a:1:2', 'ä.example', 'a%2eb'])
    assert.equal(isValidHost(host), false, host);
});
