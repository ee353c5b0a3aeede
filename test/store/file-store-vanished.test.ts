import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileStore } from '../../gateway/src/store/file-store.js';
import { emptyState, StoreUnavailableError } from '../../gateway/src/store/port.js';

async function committedStore() {
  const dir = await mkdtemp(join(tmpdir(), 'sb-vanished-'));
  const path = join(dir, 'switchboard.json');
  const store = new FileStore(path);
  await store.open();
  await store.commit({ ...emptyState(), upstreams: [] }, { expectedRevision: 0, actor: 'test', action: 'test', audit: [], keepRevision: true });
  assert.equal(await store.revision(), 1);
  return { dir, path, store };
}

test('a store file that held revisions and then disappears is unavailable, not an empty store', async () => {
  const { dir, path, store } = await committedStore();
  try {
    await rm(path);
    await assert.rejects(store.read(), (err: Error) => err instanceof StoreUnavailableError && /disappeared.*revision 1/.test(err.message));
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a store path that is a symlink to a missing file is unavailable, even to a process that never read it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-vanished-'));
  const path = join(dir, 'switchboard.json');
  await symlink(join(dir, 'nowhere.json'), path);
  const store = new FileStore(path);
  try {
    await store.open();
    await assert.rejects(store.read(), (err: Error) => err instanceof StoreUnavailableError && /symlink/.test(err.message));
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a store path with no file at all is still a fresh, empty store', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-vanished-'));
  const store = new FileStore(join(dir, 'switchboard.json'));
  try {
    await store.open();
    assert.equal((await store.read()).revision, 0);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
