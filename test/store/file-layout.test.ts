import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { FileStore } from '../../gateway/src/store/file-store.js';
import type { ConfigState } from '../../gateway/src/store/port.js';

// The configuration in force is read from its own bytes of the store file, not with the up to
// 50 kept revisions around it (store/file-layout.ts); any other layout is read whole, as before.

async function storeIn(t: TestContext): Promise<{ store: FileStore; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-layout-'));
  const path = join(dir, 'switchboard.json');
  const store = new FileStore(path, { pollMs: 60_000 });
  await store.open();
  t.after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { store, path };
}

const route = (name: string) => ({ name, upstream: 'pool', paths: [`/${name}/*`], methods: ['GET'], id: `id-${name}`, version: 1, createdAt: 'then', updatedAt: 'then' });

async function commitRoutes(store: FileStore, names: string[]): Promise<ConfigState> {
  const current = await store.read();
  const next = { ...current, routes: names.map(route) } as unknown as ConfigState;
  return store.commit(next, { expectedRevision: current.revision, audit: [], keepRevision: true, actor: 'test', action: 'config.replace' });
}

test('the state in force is read without the kept revisions: a history that no longer parses does not stop a read', async (t) => {
  const { store, path } = await storeIn(t);
  for (let i = 1; i <= 12; i++) await commitRoutes(store, Array.from({ length: i }, (_, n) => `r${n}`));
  const text = await readFile(path, 'utf8');
  assert.match(text, /^\{"format":1,"state":\{"revision":12,/);
  const tail = /,"stateEnd":(\d+),"revisionEnds":\[([\d,]*)\]\}$/.exec(text)!;
  const end = Number(tail[1]);
  assert.equal(Buffer.from(text).toString('utf8', end, end + 13), ',"revisions":');
  assert.equal((JSON.parse(text) as { revisions: unknown[] }).revisions.length, 12);
  // Each record's end offset is where the next one's comma is, and the last one's bracket.
  const ends = tail[2]!.split(',').map(Number);
  assert.equal(ends.length, 12);
  assert.deepEqual(ends.map((e) => String.fromCharCode(Buffer.from(text)[e]!)), [...Array(11).fill(','), ']']);

  // Wreck the history (same length, so the state's offset still holds): the state still reads.
  const start = Buffer.byteLength(text.slice(0, text.indexOf(',"revisions":') + 13)) + 1;
  const bytes = Buffer.from(text);
  bytes.fill('#', start, start + 200);
  await writeFile(path, bytes);
  const state = await store.read();
  assert.equal(state.revision, 12);
  assert.deepEqual(state.routes.map((r) => r.name), Array.from({ length: 12 }, (_, n) => `r${n}`));
  // What does need the history says the file is broken, as before.
  await assert.rejects(store.listRevisions(), /not valid JSON/);
});

test('a store file in the layout before stateEnd, or edited by hand, is read whole; the next commit writes the new layout', async (t) => {
  const { store, path } = await storeIn(t);
  await commitRoutes(store, ['a', 'b']);
  const doc = JSON.parse(await readFile(path, 'utf8')) as { state: ConfigState; stateEnd?: number };

  // The layout every earlier release wrote.
  const { stateEnd, ...old } = doc;
  assert.equal(typeof stateEnd, 'number');
  await writeFile(path, JSON.stringify(old));
  assert.deepEqual((await store.read()).routes.map((r) => r.name), ['a', 'b']);

  // A hand edit that makes the state longer but keeps the old offset: the offset no longer
  // lands on the history, so the whole file is read and the edit is what the node sees.
  (doc.state.routes[0] as { name: string }).name = 'a-renamed-by-hand';
  await writeFile(path, JSON.stringify(doc));
  assert.deepEqual((await store.read()).routes.map((r) => r.name), ['a-renamed-by-hand', 'b']);

  // Pretty-printed by an editor: read whole too.
  await writeFile(path, JSON.stringify(doc, null, 2));
  assert.deepEqual((await store.read()).routes.map((r) => r.name), ['a-renamed-by-hand', 'b']);

  await commitRoutes(store, ['c']);
  assert.match(await readFile(path, 'utf8'), /,"stateEnd":\d+,"revisionEnds":\[\d+,\d+\]\}$/);
  assert.deepEqual((await store.read()).routes.map((r) => r.name), ['c']);
  assert.equal((await store.listRevisions()).length, 2);
});

test('commits copy the kept revision records as they are: the newest 50 stay, in order, each whole', async (t) => {
  const { store, path } = await storeIn(t);
  const keep = 5;
  const small = new FileStore(path, { pollMs: 60_000, keepRevisions: keep });
  t.after(() => small.close());
  for (let i = 1; i <= 9; i++) await commitRoutes(small, [`only${i}`]);
  // A commit that keeps no revision (key usage) leaves the records as they are.
  const current = await small.read();
  await small.commit({ ...current }, { expectedRevision: current.revision, audit: [], keepRevision: false, actor: 'test', action: 'key.used' });
  const doc = JSON.parse(await readFile(path, 'utf8')) as { state: ConfigState; revisions: Array<{ revision: number; state: { routes: Array<{ name: string }> } }>; audit: unknown[] };
  assert.equal(doc.state.revision, 10);
  assert.deepEqual(doc.revisions.map((r) => r.revision), [9, 8, 7, 6, 5]);
  assert.deepEqual(doc.revisions.map((r) => r.state.routes[0]!.name), ['only9', 'only8', 'only7', 'only6', 'only5']);
  // The other handle on the same file agrees, and a stale writer is refused.
  assert.equal((await store.read()).revision, 10);
  assert.deepEqual((await store.getRevision(7))?.state.routes.map((r) => r.name), ['only7']);
  await assert.rejects(commitAt(store, 9), /RevisionConflict|revision/i);
});

async function commitAt(store: FileStore, expectedRevision: number): Promise<ConfigState> {
  const current = await store.read();
  return store.commit({ ...current, routes: [] }, { expectedRevision, audit: [], keepRevision: true, actor: 'test', action: 'config.replace' });
}
