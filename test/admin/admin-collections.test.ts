import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startHarness, upstreamBody, type AdminHarness } from './admin-harness.js';
import { makeCertificate } from '../edge/test-certs.js';

// A real pair: a certificate is checked (PEM, key matches, not expired) before it is stored.
const PAIR = makeCertificate({ cn: 'api.example.test' });
const PEM_CERT = PAIR.cert;
const PEM_KEY = PAIR.key;

describe('admin API: the certificates and streams collections', () => {
  let h: AdminHarness;
  let token: string;
  before(async () => {
    h = await startHarness();
    token = await h.login();
    assert.equal((await h.api('POST', '/upstreams', { token, body: upstreamBody('tcp-pool') })).status, 201);
  });
  after(async () => {
    await h.close();
    PAIR.cleanup();
  });

  test('a stream is created, read back with its defaults, and must name an existing upstream', async () => {
    const created = await h.api('POST', '/streams', { token, body: { name: 'echo', port: 7000, upstream: 'tcp-pool' } });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.idleTimeoutMs, 600000);
    assert.equal(created.body.proxyProtocol, false);
    const bad = await h.api('POST', '/streams', { token, body: { name: 'nowhere', port: 7001, upstream: 'missing' } });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body.errors), /unknown upstream/);
    const clash = await h.api('POST', '/streams', { token, body: { name: 'echo2', port: 7000, upstream: 'tcp-pool' } });
    assert.equal(clash.status, 400);
    assert.match(clash.body.errors[0].message, /already taken by stream "echo"/);
  });

  test("a certificate's private key is write-only: not in the answer, the list, the export or the audit, and kept by a PUT without it", async () => {
    const created = await h.api('POST', '/certificates', { token, body: { name: 'api', snis: ['api.example.test'], cert: PEM_CERT, key: PEM_KEY } });
    assert.equal(created.status, 201, created.text);
    const list = await h.api('GET', '/certificates', { token });
    const exported = await h.api('GET', '/config', { token });
    const audit = await h.api('GET', '/audit', { token });
    for (const answer of [created, list, exported, audit]) assert.ok(!answer.text.includes(PEM_KEY.split('\n')[1]!) && !answer.text.includes('PRIVATE KEY'), 'the key never leaves the server');
    assert.equal(exported.body.certificates[0].name, 'api');
    assert.equal(created.body.hasKey, true, 'the answer says a key is stored');
    assert.equal(list.body[0].hasKey, true);
    const put = await h.api('PUT', '/certificates/api', { token, body: { name: 'api', snis: ['api.example.test', 'www.example.test'], cert: PEM_CERT }, headers: { 'if-match': '"1"' } });
    assert.equal(put.status, 200, put.text);
    const stored = (await h.store.read()).certificates.find((c) => c.name === 'api');
    assert.equal(stored?.key, PEM_KEY, 'the stored key survives a replacement that omits it');
    assert.deepEqual(stored?.snis, ['api.example.test', 'www.example.test']);
    assert.equal(put.body.hasKey, true);
  });

  test('an SNI claimed by two certificates is refused naming the other', async () => {
    const clash = await h.api('POST', '/certificates', { token, body: { name: 'other', snis: ['API.example.test'], cert: PEM_CERT, key: PEM_KEY } });
    assert.equal(clash.status, 400);
    assert.match(clash.body.errors[0].message, /already claimed by certificate "api"/);
  });

  test('PUT /config of an export keeps certificate keys; a revision made before these collections existed restores as empty ones', async () => {
    const exported = await h.api('GET', '/config', { token });
    const put = await h.api('PUT', '/config', { token, body: exported.body });
    assert.equal(put.status, 200, put.text);
    assert.equal((await h.store.read()).certificates[0]?.key, PEM_KEY);
    const first = (await h.store.listRevisions()).at(-1)!;
    const { certificates: _c, streams: _s, ...legacy } = first.state;
    const restored = (await import('../../gateway/src/config/restore-revision.js')).restoredState(await h.store.read(), { ...first, state: legacy as typeof first.state });
    assert.deepEqual(restored.certificates, []);
    assert.deepEqual(restored.streams, []);
  });
});
