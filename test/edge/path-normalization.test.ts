import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from 'undici';
import { normalizePath } from '../../gateway/src/node/request-target.js';
import type { EchoUpstream } from '../helpers/echo-upstream.js';
import type { TestGateway } from '../helpers/gateway.js';
import { startKeyedAndOpen, type KeyedAndOpen } from './keyed-and-open.js';
import { rawRequest } from './raw-http.js';

/**
 * Issue 9, defect 2: `/v1/*` wants a key, `/public/*` does not, and each has its own upstream
 * that records exactly the request-target it receives. Whatever a client writes, a request
 * without a key must never reach the keyed upstream, and what the open upstream receives must be
 * a normalized path under /public/ (an upstream that normalizes — nginx, most frameworks — would
 * otherwise serve /v1 content for `/public/../v1/x`).
 */
let keyed: EchoUpstream;
let open: EchoUpstream;
let gw: TestGateway;
let client: Client;
let key: string;
let stage: KeyedAndOpen;

before(async () => {
  stage = await startKeyedAndOpen([{ name: 'public', methods: ['GET'], paths: ['/public/*'], upstream: 'open', auth: 'none' }]);
  ({ keyed, open, gw, key } = stage);
  client = new Client(gw.url, { pipelining: 1 });
});
after(async () => {
  await client.close();
  await stage.close();
});

interface Seen {
  status: number;
  upstream: string | undefined;
  /** The request-target the upstream received, when one did. */
  forwarded: string | undefined;
  type: string | undefined;
}

async function get(path: string, withKey = false): Promise<Seen> {
  const res = await client.request({ method: 'GET', path, headers: withKey ? { 'x-api-key': key } : {} });
  const text = await res.body.text();
  const upstream = res.headers['x-upstream'] as string | undefined;
  const json = text.startsWith('{') ? (JSON.parse(text) as { url?: string; type?: string }) : {};
  return { status: res.statusCode, upstream, forwarded: upstream ? json.url : undefined, type: upstream ? undefined : json.type };
}

describe('path normalization before routing (RFC 3986 §5.2.4)', () => {
  for (const vector of ['/public/../v1/x', '/public/%2e%2e/v1/x', '/public/%2E%2E/v1/x', '/public/x/../../v1/x', '//v1/x', '/public/.%2e/v1/x', '/public/./../v1/x'])
    test(`${vector} is the keyed route's /v1/x: 401 without a key, forwarded as /v1/x with one`, async () => {
      const anonymous = await get(vector);
      assert.equal(anonymous.status, 401, `${vector} without a key`);
      assert.equal(anonymous.upstream, undefined);
      const keyedCall = await get(vector, true);
      assert.equal(keyedCall.status, 200);
      assert.equal(keyedCall.upstream, 'keyed');
      assert.equal(keyedCall.forwarded, '/v1/x');
    });

  for (const vector of ['/public/..%2fv1/x', '/v1%2fx', '/public/..%2Fv1/x', '/public/..%5cv1/x', '/public/..\\v1/x', '/public\\..\\v1\\x'])
    test(`${vector} (an encoded slash or a backslash) is refused with 400 and reaches no upstream`, async () => {
      const before = keyed.received.length + open.received.length;
      for (const withKey of [false, true]) {
        const seen = await get(vector, withKey);
        assert.equal(seen.status, 400, `${vector} ${withKey ? 'with' : 'without'} a key`);
        assert.equal(seen.type, 'urn:switchboard:problem:bad-request-target');
      }
      assert.equal(keyed.received.length + open.received.length, before);
    });

  test('a dot-segment with a ;parameter (Tomcat and Spring read "..;" as "..") is refused with 400', async () => {
    assert.equal((await get('/public/..;/v1/x')).status, 400);
    assert.equal((await get('/public/.;x/v1/x')).status, 400);
    // A semicolon elsewhere is an ordinary character: the router does not split on it.
    const plain = await get('/public/a;b=c/d');
    assert.equal(plain.status, 200);
    assert.equal(plain.forwarded, '/public/a;b=c/d');
  });

  test('a broken percent-escape or an encoded NUL is refused with 400', async () => {
    for (const vector of ['/public/%zz', '/public/%2', '/public/x%', '/public/%00/x', '/public/%u002e'])
      assert.equal((await get(vector)).status, 400, vector);
  });

  test('the normalized path goes upstream, the query string exactly as sent', async () => {
    const seen = await get('/public/a/./b/../c//d/%7Euser/%41?next=/../v1/x&q=%2e%2e%2f');
    assert.equal(seen.upstream, 'open');
    assert.equal(seen.forwarded, '/public/a/c/d/~user/A?next=/../v1/x&q=%2e%2e%2f');
  });

  test('reserved and non-ASCII escapes stay encoded (hex in upper case), so no new delimiter appears', async () => {
    const seen = await get('/public/a%3fb%23c%3Bd/%c3%a9');
    assert.equal(seen.forwarded, '/public/a%3Fb%23c%3Bd/%C3%A9');
  });

  test('a path that climbs above the root stays at the root', async () => {
    assert.equal((await get('/../../public/x')).forwarded, '/public/x');
    assert.equal((await get('/public/x/..')).forwarded, '/public/');
  });

  test('an ordinary path is forwarded byte for byte', async () => {
    const seen = await get('/public/v1.2/file.tar.gz?x=1');
    assert.equal(seen.forwarded, '/public/v1.2/file.tar.gz?x=1');
  });

  test('a fragment in the request-target (RFC 9112 §3.2 has none) is refused with 400', async () => {
    const answer = await rawRequest(gw.url, 'GET /public/x#/../../v1/x HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n');
    assert.equal(answer.status, 400);
  });
});

/** A tiny deterministic PRNG so a failing case can be replayed from its seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ['/', '/', '/', '.', '..', '%2e', '%2E', '%2e%2e', '%2f', '%2F', '%5c', '\\', ';', '%', '%2', '%25', '%7e', '%41', 'v1', 'public', 'x', 'a', '?', '#', '%00', '%c3%a9', '..;', '//'];

/** Independent of the normalizer: what a normalized origin-form path looks like. */
function looksNormalized(path: string): boolean {
  if (!path.startsWith('/')) return false;
  if (path.includes('//') || path.includes('\\') || /%(2[eEfF]|5[cC]|00)/.test(path)) return false;
  if (path.split('/').some((s) => s === '.' || s === '..')) return false;
  if (/%(?![0-9A-F]{2})/.test(path)) return false;
  return true;
}

describe('path fuzz', () => {
  test('random dot/slash/percent paths: never a 5xx, and whatever is forwarded is normalized and owned by the route that took it', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 100000);
    const random = prng(seed);
    const cases = Number(process.env.FUZZ_CASES ?? 400);
    for (let i = 0; i < cases; i++) {
      let path = random() < 0.5 ? '/public/' : '/';
      const n = 1 + Math.floor(random() * 10);
      for (let j = 0; j < n; j++) path += PIECES[Math.floor(random() * PIECES.length)];
      const withKey = random() < 0.3;
      let seen: Seen;
      try {
        seen = await get(path, withKey);
      } catch (err) {
        assert.fail(`seed ${seed} case ${i}: ${path} broke the exchange: ${(err as Error).message}`);
      }
      const why = `seed ${seed} case ${i}: ${JSON.stringify(path)} ${withKey ? 'with' : 'without'} key → ${seen.status} ${seen.upstream ?? ''} ${seen.forwarded ?? ''}`;
      assert.ok(seen.status < 500, why);
      if (!seen.upstream) continue;
      const forwardedPath = seen.forwarded!.split('?')[0]!;
      assert.ok(looksNormalized(forwardedPath), why);
      assert.equal(normalizePath(forwardedPath), forwardedPath, `${why}: normalizing twice changes it`);
      if (seen.upstream === 'open') assert.ok(forwardedPath.startsWith('/public/'), why);
      if (seen.upstream === 'keyed') {
        assert.ok(withKey, `${why}: reached the keyed upstream without a key`);
        assert.ok(forwardedPath.startsWith('/v1/'), why);
      }
    }
  });
});
