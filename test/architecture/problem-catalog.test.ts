import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { isProblemCode, PROBLEMS, type ProblemCode } from '../../gateway/src/errors.js';
import { startHarness } from '../admin/admin-harness.js';
import { startEchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway } from '../helpers/gateway.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const PREFIX = 'urn:switchboard:problem:';

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Every problem( / ProblemError( call in the gateway's and the plugins' sources, with its code. */
async function callSites(): Promise<{ where: string; status: number | undefined; code: string | undefined; text: string }[]> {
  const found = [];
  for (const file of [...(await sources('gateway/src')), ...(await sources('plugins'))]) {
    const text = await readFile(join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/\b(?:problem|ProblemError)\(\s*([^)]*?)(?:,|\))/gs)) {
      const line = text.slice(0, m.index).split('\n').length;
      const rest = text.slice(m.index! + m[0].length - 1, m.index! + m[0].length + 200);
      const first = m[1]!.trim();
      let status: number | undefined;
      let code: string | undefined;
      if (/^\d{3}$/.test(first)) {
        status = Number(first);
        code = /^,\s*'([a-z0-9-]+)'/.exec(rest)?.[1];
      } else code = /^'([a-z0-9-]+)'$/.exec(first)?.[1];
      found.push({ where: `${relative(ROOT, join(ROOT, file))}:${line}`, status, code, text: m[0] + rest.slice(1, 60) });
    }
  }
  return found;
}

test('the catalog names each code once, with a 4xx/5xx status and a title', () => {
  for (const [code, entry] of Object.entries(PROBLEMS)) {
    assert.match(code, /^[a-z][a-z0-9-]*$/, code);
    assert.ok(entry.status >= 400 && entry.status < 600, code);
    assert.ok(entry.title.length > 3, code);
  }
});

test('every problem the sources can make takes its code from the catalog, with the catalog’s status', async () => {
  const sites = await callSites();
  assert.ok(sites.length > 30, `only ${sites.length} call sites found: the scan is broken`);
  const wrong: string[] = [];
  for (const site of sites) {
    // Declarations and dynamic codes: the ProblemCode type checks those at compile time.
    if (site.code === undefined) continue;
    if (!isProblemCode(site.code)) wrong.push(`${site.where}: "${site.code}" is not in the catalog`);
    else if (site.status !== undefined && site.status !== PROBLEMS[site.code as ProblemCode].status)
      wrong.push(`${site.where}: "${site.code}" with ${site.status}, the catalog says ${PROBLEMS[site.code as ProblemCode].status}`);
  }
  assert.deepEqual(wrong, []);
});

test('no source builds a problem type by hand, past the catalog', async () => {
  const offenders: string[] = [];
  for (const file of [...(await sources('gateway/src')), ...(await sources('plugins'))]) {
    if (file.endsWith('errors.ts') || file.endsWith('problem-catalog.ts')) continue;
    const text = await readFile(join(ROOT, file), 'utf8');
    // A type URI with a code written out (a description naming the pattern is fine).
    if (/urn:switchboard:problem:[a-z]/.test(text)) offenders.push(file);
  }
  assert.deepEqual(offenders, []);
});

function assertCatalogued(body: { type: string; title: string; status: number }, status: number, code: ProblemCode): void {
  assert.equal(body.type, PREFIX + code);
  assert.equal(body.status, status);
  assert.equal(body.title, PROBLEMS[code].title);
}

/** A WebSocket handshake on a raw socket, answered by the gateway itself. */
async function upgradeAnswer(url: string, path: string): Promise<{ status: number; body: any }> {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  socket.write(
    `GET ${path} HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n`,
  );
  let raw = '';
  for await (const chunk of socket) {
    raw += chunk.toString();
    const head = raw.indexOf('\r\n\r\n');
    const length = /content-length: (\d+)/i.exec(raw)?.[1];
    if (head !== -1 && length !== undefined && raw.length >= head + 4 + Number(length)) break;
  }
  socket.destroy();
  const status = Number(raw.slice(9, 12));
  return { status, body: JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) };
}

test('the public listener, the WebSocket path and the admin API answer with catalogued problems, instance included', async (t) => {
  const up = await startEchoUpstream('up');
  const gw = await startGateway({
    upstreams: [
      { name: 'live', targets: [{ url: up.url }] },
      { name: 'drained', targets: [{ url: up.url, draining: true }] },
    ],
    routes: [
      { name: 'small', methods: ['POST'], paths: ['/small'], upstream: 'live', bodyLimit: 4 },
      { name: 'typed', methods: ['POST'], paths: ['/typed'], upstream: 'live', schema: { body: { type: 'object', required: ['model'] } } },
      { name: 'empty', methods: ['GET'], paths: ['/empty', '/ws'], upstream: 'drained' },
    ],
    consumers: [],
  });
  const admin = await startHarness({ store: gw.store, node: gw.node });
  t.after(async () => {
    await admin.close();
    await gw.close();
    await up.close();
  });

  const answers: Array<[string, number, ProblemCode, () => Promise<{ status: number; body: any }>]> = [
    ['no route', 404, 'no-route', async () => request(`${gw.url}/nowhere`).then(async (r) => ({ status: r.statusCode, body: await r.body.json() }))],
    ['body too large', 413, 'body-too-large', async () => request(`${gw.url}/small`, { method: 'POST', body: 'far too long' }).then(async (r) => ({ status: r.statusCode, body: await r.body.json() }))],
    [
      'schema violation',
      400,
      'validation',
      async () =>
        request(`${gw.url}/typed`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }).then(async (r) => ({ status: r.statusCode, body: await r.body.json() })),
    ],
    ['no healthy target', 503, 'no-healthy-target', async () => request(`${gw.url}/empty`).then(async (r) => ({ status: r.statusCode, body: await r.body.json() }))],
    ['no healthy target for an upgrade', 503, 'no-healthy-target', () => upgradeAnswer(gw.url, '/ws')],
  ];
  for (const [what, status, code, ask] of answers) {
    const { status: got, body } = await ask();
    assert.equal(got, status, what);
    assertCatalogued(body, status, code);
    assert.equal(typeof body.instance, 'string', `${what}: instance (the request id) is missing`);
  }

  const token = await admin.login();
  const missing = await admin.api('GET', '/upstreams/nope', { token });
  assertCatalogued(missing.body, 404, 'not-found');
  const invalid = await admin.api('POST', '/upstreams', { token, body: { name: 'x' } });
  assertCatalogued(invalid.body, 400, 'validation');
});
