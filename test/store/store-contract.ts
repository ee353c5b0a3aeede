import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { emptyState, RevisionConflictError, type CommitOptions, type ConfigState, type ConfigStore, type Stored } from '../../gateway/src/store/port.js';
import type { Route } from '../../spec/route.js';
import type { Upstream } from '../../spec/upstream.js';

/** A backing store (a file, a database) that any number of adapter instances can open. */
export interface StoreFixture {
  /** A fresh adapter instance on the fixture's backing store, opened. */
  open(options?: { keepRevisions?: number }): Promise<ConfigStore>;
  cleanup(): Promise<void>;
}

const now = () => new Date().toISOString();

function upstream(name: string, port: number): Stored<Upstream> {
  return {
    id: `u-${name}`,
    version: 1,
    createdAt: now(),
    updatedAt: now(),
    name,
    algorithm: 'round-robin',
    targets: [{ url: `http://127.0.0.1:${port}`, weight: 1, backup: false }],
    slowStartMs: 0,
    panicThreshold: 0,
    retryBudgetPercent: 20,
  } as Stored<Upstream>;
}

function route(name: string, upstreamName: string, extra: Partial<Route> = {}): Stored<Route> {
  return { id: `r-${name}`, version: 1, createdAt: now(), updatedAt: now(), name, methods: ['GET'], paths: [`/${name}`], upstream: upstreamName, auth: 'none', ...extra } as Stored<Route>;
}

function options(expectedRevision: number, extra: Partial<CommitOptions> = {}): CommitOptions {
  return { expectedRevision, audit: [], keepRevision: true, actor: 'contract@test', action: 'test', ...extra };
}

/** Commit `change(current)` on top of whatever is current. */
async function commitOn(store: ConfigStore, change: (s: ConfigState) => Partial<ConfigState>, extra: Partial<CommitOptions> = {}): Promise<ConfigState> {
  const current = await store.read();
  return store.commit({ ...current, ...change(current), revision: current.revision + 1 }, options(current.revision, extra));
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * The store port's contract. Every adapter runs exactly these tests, so what the config service
 * relies on (CAS, atomic replace, history, audit in the same step, cross-instance watch) holds
 * for the embedded store and for MongoDB alike.
 */
export function storeContract(name: string, makeFixture: () => Promise<StoreFixture>): void {
  describe(`store contract: ${name}`, () => {
    async function setup(t: TestContext, keepRevisions?: number): Promise<{ fixture: StoreFixture; a: ConfigStore; b: ConfigStore }> {
      const fixture = await makeFixture();
      const a = await fixture.open(keepRevisions ? { keepRevisions } : {});
      const b = await fixture.open(keepRevisions ? { keepRevisions } : {});
      t.after(async () => {
        await a.close();
        await b.close();
        await fixture.cleanup();
      });
      return { fixture, a, b };
    }

    test('a fresh store reads as the empty configuration at revision 0', async (t) => {
      const { a } = await setup(t);
      assert.deepEqual(await a.read(), emptyState());
      assert.equal(await a.revision(), 0);
      assert.deepEqual(await a.listRevisions(), []);
      assert.deepEqual(await a.listAudit(), []);
    });

    test('a commit on the current revision makes the next one, readable by every instance', async (t) => {
      const { a, b } = await setup(t);
      const next: ConfigState = {
        ...emptyState(),
        revision: 1,
        upstreams: [upstream('pool', 9001)],
        routes: [route('chat', 'pool', { schema: { body: { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: { 'a.b': { $ref: '#/$defs/x' } }, $defs: { x: { type: 'string' } } } } })],
        users: [{ id: 'usr1', email: 'a@b.c', role: 'admin', passwordHash: 'scrypt$x', version: 1, createdAt: now(), updatedAt: now() }],
        keys: [{ id: 'k1', consumer: 'c1', prefix: 'sb_', hash: 'h', createdAt: now() }],
        consumers: [{ id: 'c1', version: 1, createdAt: now(), updatedAt: now(), name: 'acme' }],
        secrets: { adminJwtSecret: 's3cret' },
      };
      const committed = await a.commit(next, options(0));
      assert.equal(committed.revision, 1);
      assert.deepEqual(await b.read(), next, 'fields with $ and dots in JSON Schemas survive too');
      assert.equal(await b.revision(), 1);
    });

    test('a commit on a stale revision is refused with RevisionConflictError and changes nothing', async (t) => {
      const { a, b } = await setup(t);
      await commitOn(a, () => ({ upstreams: [upstream('one', 9001)] }));
      await assert.rejects(
        b.commit({ ...emptyState(), revision: 1, upstreams: [upstream('other', 9002)] }, options(0, { audit: [{ at: now(), actor: 'x', action: 'create', kind: 'upstream', id: 'u', before: null, after: null }] })),
        (err: unknown) => err instanceof RevisionConflictError && err.expected === 0 && err.actual === 1,
      );
      const state = await a.read();
      assert.equal(state.revision, 1);
      assert.deepEqual(state.upstreams.map((u) => u.name), ['one']);
      assert.deepEqual(await a.listAudit(), [], 'the refused commit appended no audit entry');
    });

    test('of two instances committing on the same revision at once, exactly one wins', async (t) => {
      const { a, b } = await setup(t);
      const results = await Promise.allSettled([
        a.commit({ ...emptyState(), revision: 1, upstreams: [upstream('from-a', 9001)] }, options(0)),
        b.commit({ ...emptyState(), revision: 1, upstreams: [upstream('from-b', 9002)] }, options(0)),
      ]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      const loser = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.ok(loser.reason instanceof RevisionConflictError, String(loser.reason));
      const state = await a.read();
      assert.equal(state.revision, 1);
      assert.equal(state.upstreams.length, 1);
    });

    test('a commit replaces the whole configuration atomically: removed, renamed, reordered and added items', async (t) => {
      const { a, b } = await setup(t);
      await commitOn(a, () => ({ upstreams: [upstream('p1', 9001), upstream('p2', 9002)], routes: [route('r1', 'p1'), route('r2', 'p2'), route('r3', 'p1')] }));
      const swapped = [
        { ...route('r2', 'p2'), name: 'r1', id: 'r-r2' },
        { ...route('r1', 'p1'), name: 'r2', id: 'r-r1' },
      ];
      const next = await commitOn(a, () => ({ upstreams: [upstream('p2', 9002), upstream('p3', 9003)], routes: [...swapped, route('r4', 'p3')] }));
      const seen = await b.read();
      assert.deepEqual(seen.upstreams, next.upstreams);
      assert.deepEqual(seen.routes, next.routes, 'order kept; two items swapping names in one commit is fine');
      assert.equal(seen.revision, 2);
    });

    test('revisions are kept (the last N), newest first, and readable; non-config commits are not kept', async (t) => {
      const { a } = await setup(t, 3);
      for (let i = 1; i <= 5; i++) await commitOn(a, () => ({ upstreams: [upstream(`p${i}`, 9000 + i)] }), { action: `step-${i}` });
      await commitOn(a, (s) => ({ secrets: { ...s.secrets, touched: 'yes' } }), { keepRevision: false });
      const revisions = await a.listRevisions();
      assert.deepEqual(revisions.map((r) => r.revision), [5, 4, 3]);
      assert.equal(revisions[0]!.action, 'step-5');
      assert.equal(revisions[0]!.actor, 'contract@test');
      const third = await a.getRevision(3);
      assert.deepEqual(third?.state.upstreams.map((u) => u.name), ['p3']);
      assert.equal(await a.getRevision(1), undefined, 'older than the last N');
      assert.equal(await a.getRevision(6), undefined, 'a commit with keepRevision false is no rollback point');
      assert.equal((third as unknown as { state: Record<string, unknown> }).state.secrets, undefined, 'revisions hold no secrets');
    });

    test('audit entries are appended in the same step as the commit, with its revision, newest first', async (t) => {
      const { a, b } = await setup(t);
      const entry = (id: string) => ({ at: now(), actor: 'ed@x', action: 'create', kind: 'upstream', id, before: null, after: { name: id } });
      await commitOn(a, () => ({ upstreams: [upstream('one', 9001)] }), { audit: [entry('one')] });
      await commitOn(a, () => ({ upstreams: [upstream('one', 9001), upstream('two', 9002)] }), { audit: [entry('two-a'), entry('two-b')] });
      const audit = await b.listAudit();
      assert.deepEqual(audit.map((e) => [e.id, e.revision]), [['two-b', 2], ['two-a', 2], ['one', 1]]);
      assert.deepEqual(audit[2]!.after, { name: 'one' });
      assert.deepEqual((await b.listAudit({ limit: 1, offset: 1 })).map((e) => e.id), ['two-a']);
    });

    test('watch fires on another instance\'s commit', async (t) => {
      const { a, b } = await setup(t);
      const seen: number[] = [];
      const stop = b.watch((revision) => seen.push(revision));
      t.after(stop);
      await sleep(200);
      await commitOn(a, () => ({ upstreams: [upstream('watched', 9001)] }));
      await until(() => seen.includes(1), 'the watcher to see revision 1');
      await commitOn(a, () => ({ upstreams: [] }));
      await until(() => seen.includes(2), 'the watcher to see revision 2');
    });

    test('key usage merges (a later time wins) and makes no revision', async (t) => {
      const { a, b } = await setup(t);
      await a.recordKeyUsage({ k1: '2030-01-01T00:00:00.000Z', k2: '2030-01-01T00:00:00.000Z' });
      await b.recordKeyUsage({ k1: '2029-01-01T00:00:00.000Z', k2: '2031-01-01T00:00:00.000Z', k3: '2030-06-01T00:00:00.000Z' });
      assert.deepEqual(await a.readKeyUsage(), { k1: '2030-01-01T00:00:00.000Z', k2: '2031-01-01T00:00:00.000Z', k3: '2030-06-01T00:00:00.000Z' });
      assert.equal(await a.revision(), 0);
    });

    test('a reopened store holds everything committed before', async (t) => {
      const { fixture, a } = await setup(t);
      const committed = await commitOn(a, () => ({ upstreams: [upstream('durable', 9001)], routes: [route('durable', 'durable')] }));
      const reopened = await fixture.open();
      t.after(() => reopened.close());
      assert.deepEqual(await reopened.read(), committed);
    });
  });
}
