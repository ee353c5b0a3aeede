import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { withFileLock } from '../../gateway/src/store/file-lock.js';
import { FileStore } from '../../gateway/src/store/file-store.js';

const WRITER = fileURLToPath(new URL('./crash-writer.js', import.meta.url));

/** Start the writer; resolve once it has opened the store. */
function startWriter(path: string) {
  const child = spawn(process.execPath, [WRITER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`writer exited early (${code})`)));
  });
  return { child, ready };
}

test('the embedded store never holds a half-written file, however a writer is killed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-crash-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'switchboard.json');
  let lastRevision = 0;
  let wholeRevisionsSeen = 0;
  for (let round = 0; round < 6; round++) {
    const { child, ready } = startWriter(path);
    await ready;
    // Kill at a random moment: mid-serialisation, mid-write, mid-fsync or mid-rename.
    await sleep(150 + Math.floor(Math.random() * 600));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;

    // A writer killed holding the lock leaves it to go stale (2 s here): take it once and let it
    // go, so the next writer does not spend its life waiting for it.
    await withFileLock(`${path}.lock`, async () => {}, 15_000, 2000);

    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      continue; // killed before the first commit completed: no file is fine, half a file is not
    }
    const doc = JSON.parse(text) as { state: { revision: number; routes: Array<{ docs: { summary: string } }> } };
    const { revision, routes } = doc.state;
    assert.ok(Number.isInteger(revision) && revision >= lastRevision, `revision ${revision} after ${lastRevision}`);
    assert.equal(routes.length, 3000);
    // One whole revision, never a mixture. (A writer killed before its first commit leaves the
    // test's own after-crash commit, which bumps the revision and keeps the routes it found.)
    const written = routes[0]!.docs.summary;
    assert.ok(routes.every((r) => r.docs.summary === written), `every route belongs to one revision (${written})`);
    assert.ok(Number(written.slice(4)) <= revision, `${written} is not newer than revision ${revision}`);
    lastRevision = revision;
    wholeRevisionsSeen++;

    // The store stays usable: the dead writer's lock is broken once stale (2 s here), and a commit goes through.
    const store = new FileStore(path, { lockStaleMs: 2000 });
    await store.open();
    const state = await store.read();
    await store.commit({ ...state, revision: state.revision + 1 }, { expectedRevision: state.revision, audit: [], keepRevision: false, actor: 'test', action: 'after-crash' });
    lastRevision = state.revision + 1;
    await store.close();
  }
  const litter = (await readdir(dir)).filter((name) => name.endsWith('.tmp'));
  assert.deepEqual(litter, [], 'temp files of killed writers are cleaned up when the store is opened');
  assert.ok(wholeRevisionsSeen >= 3, `the writer committed before most kills (${wholeRevisionsSeen} of 6)`);
});
