/**
 * What a node's read of the embedded store, and a commit, cost once the file keeps a history: a
 * store of 10 000 routes `/svc<i>/*` committed STORE_REVISIONS times (20 by default; the store
 * keeps 50), then, five times each in one process: the configuration in force read as the whole
 * document parsed (what every start and reload did before store/file-layout.ts) and as
 * `FileStore.read()`, which reads the state's own bytes; and a commit as the whole document
 * parsed, extended and written again (what commit() did before) and as `FileStore.commit()`,
 * which copies the kept records as bytes. Per operation: wall and CPU ms, the longest
 * event-loop stall, and how far the heap grew.
 *
 *   node_modules/.bin/node --expose-gc dist/test/bench/store-cost.js
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import { writeFileAtomic } from '../../gateway/src/store/atomic-write.js';
import { FileStore } from '../../gateway/src/store/file-store.js';
import { revisionState, type ConfigState } from '../../gateway/src/store/port.js';
import { routesConfig } from './routes-bench.js';

const ROUTES = 10_000;
/** Runs of each operation, after two to warm up. */
const READS = 5;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc: the heap growth is read after a full GC');

const revisions = Number(process.env.STORE_REVISIONS ?? 20);
const dir = await mkdtemp(join(tmpdir(), 'store-cost-'));
const path = join(dir, 'switchboard.json');
try {
  const store = new FileStore(path, { pollMs: 60_000 });
  await store.open();
  // A different upstream port each time, so every commit is a new revision with a full snapshot.
  for (let i = 0; i < revisions; i++) await replaceConfig(store, routesConfig(ROUTES, 9000 + i), 'bench');
  console.log(`store: ${ROUTES} routes, ${revisions} revisions kept, ${((await stat(path)).size / 1048576).toFixed(1)} MiB`);

  const whole = async () => (JSON.parse(await readFile(path, 'utf8')) as { state: ConfigState }).state;
  const scratch = join(dir, 'scratch.json');
  // commit() before file-layout.ts, less its lock: parse everything, prepend a record, write everything.
  const wholeCommit = async () => {
    const doc = JSON.parse(await readFile(path, 'utf8')) as { state: ConfigState; revisions: unknown[]; audit: unknown[] };
    const state = { ...doc.state, revision: doc.state.revision + 1 };
    const revisions = [{ revision: state.revision, at: new Date().toISOString(), actor: 'bench', action: 'config.replace', state: revisionState(state) }, ...doc.revisions].slice(0, 50);
    await writeFileAtomic(scratch, JSON.stringify({ format: 1, state, revisions, audit: doc.audit }));
    return state;
  };
  const commit = async () => {
    const current = await store.read();
    return store.commit({ ...current }, { expectedRevision: current.revision, audit: [], keepRevision: true, actor: 'bench', action: 'config.replace' });
  };
  const ways: Array<[string, () => Promise<ConfigState>]> = [
    ['read: whole document (before)', whole],
    ['read: FileStore.read', () => store.read()],
    ['commit: whole document (before)', wholeCommit],
    ['commit: FileStore.commit', commit],
  ];
  for (const [name, run] of ways) {
    for (let i = 0; i < 2; i++) await run();
    gc();
    const base = process.memoryUsage().heapUsed;
    let grew = 0;
    const sampler = setInterval(() => (grew = Math.max(grew, process.memoryUsage().heapUsed - base)), 1);
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < READS; i++) {
      const state = await run();
      if (state.routes.length !== ROUTES) throw new Error(`${name} saw ${state.routes.length} routes`);
      grew = Math.max(grew, process.memoryUsage().heapUsed - base);
    }
    const wall = (performance.now() - started) / READS;
    const used = process.cpuUsage(cpu);
    delay.disable();
    clearInterval(sampler);
    console.log(
      `  ${name.padEnd(33)} ${wall.toFixed(0).padStart(5)} ms  CPU ${((used.user + used.system) / 1000 / READS).toFixed(0).padStart(5)} ms  longest stall ${(delay.max / 1e6).toFixed(0).padStart(5)} ms  heap +${(grew / 1048576).toFixed(0)} MB`,
    );
  }
  await store.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
