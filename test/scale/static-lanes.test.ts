import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { test } from 'node:test';
import type { RouteOptions } from 'fastify';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import { buildFrontRouter, ROUTER_OPTIONS, type LaneRoute } from '../../gateway/src/generation/front-router.js';
import { StaticLanes } from '../../gateway/src/generation/static-lanes.js';
import { xorshift32 } from '../../gateway/src/balancer/prng.js';

// The front router answers unshadowed static and `/prefix/*` lanes from a Map instead of
// find-my-way (static-lanes.ts). Its choice must be find-my-way's for every request: checked
// here against a find-my-way holding every entry, the way the front router did before.

type Served = { by: string | undefined };

interface Entry {
  id: string;
  url: string;
  methods: string[];
  host: string | undefined;
  fastify: boolean;
}

const SEGMENTS = ['a', 'b', 'ab', 'v1', 'svc1', 'svc12'];
const METHODS = ['GET', 'POST'];

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

function randomPath(rand: () => number, depth: number): string {
  return '/' + Array.from({ length: depth }, () => pick(rand, SEGMENTS)).join('/');
}

function randomUrl(rand: () => number): string {
  const base = randomPath(rand, 1 + Math.floor(rand() * 3));
  switch (Math.floor(rand() * 8)) {
    case 0:
    case 1:
      return base; // static
    case 2:
    case 3:
      return `${base}/*`; // prefix
    case 4:
      return `${base}*`; // wildcard without a slash
    case 5:
      return `${base}/:id`;
    case 6:
      return `/:tenant${base}`;
    default:
      return `${base}/:id/${pick(rand, SEGMENTS)}`;
  }
}

function randomRequestUrl(rand: () => number): string {
  let path = randomPath(rand, Math.floor(rand() * 4)) || '/';
  const tail = Math.floor(rand() * 10);
  if (tail === 0) path += '/';
  if (tail === 1) path += '?q=1';
  if (tail === 2) path += '#frag';
  if (tail === 3) path = path.replace(/a/, '%61'); // decoded by find-my-way before matching
  if (tail === 4) path += '/x%20y';
  if (tail === 5) path += '/%zz'; // a broken escape: the router's onBadUrl
  if (tail === 6) path = path.replace('/', '//');
  return path;
}

function randomEntries(rand: () => number): Entry[] {
  const out: Entry[] = [];
  const taken = new Set<string>();
  const count = 1 + Math.floor(rand() * 14);
  for (let i = 0; out.length < count && i < count * 4; i++) {
    const url = randomUrl(rand);
    const methods = rand() < 0.7 ? ['GET'] : rand() < 0.5 ? ['POST'] : ['GET', 'POST'];
    const host = rand() < 0.15 ? pick(rand, ['h1.test', 'h2.test']) : undefined;
    // find-my-way refuses a second handler for one method, path and constraint set.
    const keys = methods.map((m) => `${m} ${url.replace(/:[^/]+/g, ':')} ${host ?? ''}`);
    if (keys.some((k) => taken.has(k))) continue;
    keys.forEach((k) => taken.add(k));
    out.push({ id: `e${out.length}`, url, methods, host, fastify: rand() < 0.2 });
  }
  return out;
}

/** The reference: one find-my-way holding every entry, with the front router's HEAD rule. */
function reference(entries: readonly Entry[]): (method: string, url: string, host: string | undefined) => string | undefined {
  const router = FindMyWay({ ...ROUTER_OPTIONS });
  const laneIds = new Set<string>();
  for (const e of entries) {
    const handler = Object.assign(() => {}, { id: e.fastify ? 'fastify' : e.id });
    if (!e.fastify) laneIds.add(e.id);
    for (const m of e.methods) router.on(m as HTTPMethod, e.url, e.host ? { constraints: { host: e.host } } : {}, handler);
  }
  const idOf = (method: string, url: string, host: string | undefined) => {
    const found = router.find(method as HTTPMethod, url, { host });
    return found === null ? undefined : (found.handler as unknown as { id: string }).id;
  };
  return (method, url, host) => {
    if (method === 'HEAD') {
      const asGet = idOf('GET', url, host);
      if (asGet !== undefined && laneIds.has(asGet)) return asGet;
    }
    return idOf(method, url, host) ?? 'fastify';
  };
}

async function frontRouter(entries: readonly Entry[], served: Served) {
  const fastifyRoutes = entries
    .filter((e) => e.fastify)
    .map((e) => ({ method: e.methods, url: e.url, ...(e.host ? { constraints: { host: e.host } } : {}) }) as unknown as RouteOptions);
  const lanes: LaneRoute[] = entries
    .filter((e) => !e.fastify)
    .map((e) => ({ field: `/routes/${e.id}`, methods: e.methods, url: e.url, constraints: e.host ? { host: e.host } : undefined, lane: () => void (served.by = e.id) }));
  return buildFrontRouter(fastifyRoutes, lanes, () => void (served.by = 'fastify'), { headOnlyRoutes: false });
}

test('the front router with its static index chooses what one find-my-way holding every route chooses', async () => {
  const rand = xorshift32(20261202);
  let indexed = 0;
  let requests = 0;
  for (let round = 0; round < 400; round++) {
    const entries = randomEntries(rand);
    const expected = reference(entries);
    const served: Served = { by: undefined };
    const route = await frontRouter(entries, served);
    indexed += StaticLanes.split(entries.filter((e) => !e.fastify).map((e) => ({ url: e.url, methods: e.methods, lane: () => {}, constrained: e.host !== undefined }))).held;
    for (let n = 0; n < 60; n++) {
      const method = pick(rand, [...METHODS, 'HEAD']);
      const url = randomRequestUrl(rand);
      const host = rand() < 0.3 ? pick(rand, ['h1.test', 'h2.test']) : undefined;
      served.by = undefined;
      route({ method, url, headers: host ? { host } : {} } as IncomingMessage, {} as ServerResponse);
      requests++;
      assert.equal(served.by, expected(method, url, host), `${method} ${url} host=${host} over ${JSON.stringify(entries)}`);
    }
  }
  // The comparison means something only if the index answered a good share of them.
  assert.ok(indexed > 300, `only ${indexed} entries were indexed over ${requests} requests`);
});

test('an entry is indexed only when no other path starts with its own', () => {
  const lane = () => {};
  const split = (urls: string[]) => {
    const { routed } = StaticLanes.split(urls.map((url) => ({ url, methods: ['GET'], lane })));
    return routed.map((r) => r.url).sort();
  };
  assert.deepEqual(split(['/svc1/*', '/svc2/*', '/v1/chat/completions']), []);
  // `/a/b` extends `/a/*`: find-my-way's descent can go below `/a/`, so `/a/*` stays in the router (`/a/b` itself is exact).
  assert.deepEqual(split(['/a/*', '/a/b']), ['/a/*']);
  assert.deepEqual(split(['/a/*', '/a/:id']), ['/a/*', '/a/:id']);
  // A parameter or wildcard higher up is tried only when the static descent fails, which it cannot here.
  assert.deepEqual(split(['/a/*', '/:t/b', '/a*']), ['/:t/b', '/a*']);
  // The same path twice (two methods' worth, or a duplicate find-my-way must refuse) is left to the router.
  assert.deepEqual(split(['/x', '/x']), ['/x', '/x']);
  // Host-bound and stage routes compete but are never answered from the index.
  const { routed } = StaticLanes.split([
    { url: '/h/*', methods: ['GET'], lane, constrained: true },
    { url: '/f', methods: ['GET'] },
    { url: '/free/*', methods: ['GET'], lane },
  ]);
  assert.deepEqual(routed.map((r) => r.url).sort(), ['/f', '/h/*']);
});

test('a lane answered from the index keeps its methods, query strings and decoded paths as find-my-way reads them', () => {
  const hits: string[] = [];
  const { index } = StaticLanes.split([
    { url: '/svc3/*', methods: ['GET'], lane: () => void hits.push('svc3') },
    { url: '/v1/chat/completions', methods: ['POST'], lane: () => void hits.push('chat') },
  ]);
  const call = (method: string, url: string) => index.find(method, url)?.({} as IncomingMessage, {} as ServerResponse);
  call('GET', '/svc3/x?y=/v1/chat/completions');
  call('GET', '/svc3/');
  call('GET', '/svc%33/a'); // %33 is "3": find-my-way decodes it and matches /svc3/*
  call('POST', '/v1/chat/completions?stream=true');
  assert.deepEqual(hits, ['svc3', 'svc3', 'svc3', 'chat']);
  assert.equal(index.find('POST', '/svc3/x'), undefined);
  assert.equal(index.find('GET', '/svc3'), undefined);
  assert.equal(index.find('GET', '/svc3x/a'), undefined);
  assert.equal(index.find('POST', '/v1/chat/completions/x'), undefined);
  assert.equal(index.find('GET', '/svc3/%zz'), undefined, 'a broken escape goes to the router, whose onBadUrl answers it');
});
