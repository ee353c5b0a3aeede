import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

let ups: EchoUpstream[];
let gw: TestGateway;

before(async () => {
  ups = await Promise.all(['a', 'b', 'c'].map((n) => startEchoUpstream(n)));
  ups[0]!.handler = (_req, res) => {
    res.writeHead(200, { 'x-upstream': 'a', 'set-cookie': 'upstream=1; Path=/' });
    res.end('a');
    return true;
  };
  const targets = ups.map((u) => ({ url: u.url }));
  gw = await startGateway({
    upstreams: [
      { name: 'sticky', targets, sticky: { cookie: 'sb', ttlMs: 60000 } },
      { name: 'by-session', algorithm: 'consistent-hash', hashOn: { source: 'header', name: 'x-session-id' }, targets },
      { name: 'by-ip', algorithm: 'ip-hash', targets, trustedProxies: ['127.0.0.1/32'] },
    ],
    routes: [
      { name: 's', methods: ['GET'], paths: ['/s/*'], upstream: 'sticky' },
      { name: 'h', methods: ['GET'], paths: ['/h/*'], upstream: 'by-session' },
      { name: 'i', methods: ['GET'], paths: ['/i/*'], upstream: 'by-ip' },
    ],
    consumers: [],
  });
});
after(async () => {
  await gw.close();
  await Promise.all(ups.map((u) => u.close()));
});

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await request(`${gw.url}${path}`, { headers });
  await res.body.dump();
  return res;
}

test('a sticky cookie sends a client back to the same worker; the upstream’s own cookies survive', async () => {
  const first = await get('/s/x');
  const cookies = ([] as string[]).concat(first.headers['set-cookie'] ?? []);
  const mine = cookies.find((c) => c.startsWith('sb='));
  assert.ok(mine, `sticky cookie set: ${cookies}`);
  if (first.headers['x-upstream'] === 'a') assert.ok(cookies.some((c) => c.startsWith('upstream=')), 'upstream cookie kept');
  const value = mine.split(';')[0]!;
  for (let i = 0; i < 9; i++) {
    const res = await get('/s/x', { cookie: `other=1; ${value}` });
    assert.equal(res.headers['x-upstream'], first.headers['x-upstream']);
    assert.ok(!([] as string[]).concat(res.headers['set-cookie'] ?? []).some((c) => c.startsWith('sb=')), 'no new cookie while stuck');
  }
});

test('a forged sticky cookie is ignored and replaced', async () => {
  const res = await get('/s/x', { cookie: 'sb=0.deadbeef.AAAAAAAAAAAAAAAA' });
  assert.equal(res.statusCode, 200);
  assert.ok(([] as string[]).concat(res.headers['set-cookie'] ?? []).some((c) => c.startsWith('sb=')));
});

test('consistent hashing on a header keeps each session on one worker and spreads sessions', async () => {
  const seen = new Map<string, string>();
  for (let s = 0; s < 30; s++) {
    for (let i = 0; i < 3; i++) {
      const res = await get('/h/x', { 'x-session-id': `session-${s}` });
      const w = res.headers['x-upstream'] as string;
      if (seen.has(`session-${s}`)) assert.equal(w, seen.get(`session-${s}`));
      else seen.set(`session-${s}`, w);
    }
  }
  assert.equal(new Set(seen.values()).size, 3, 'thirty sessions use all three workers');
});

test('ip-hash believes x-forwarded-for only from a trusted proxy and keeps each client on one worker', async () => {
  const workers = new Set<string>();
  for (let c = 0; c < 30; c++) {
    const ip = `198.51.100.${c}`;
    const first = await get('/i/x', { 'x-forwarded-for': ip });
    const again = await get('/i/x', { 'x-forwarded-for': ip });
    assert.equal(again.headers['x-upstream'], first.headers['x-upstream']);
    workers.add(first.headers['x-upstream'] as string);
  }
  assert.equal(workers.size, 3, 'clients behind the trusted proxy spread over all workers');
});
