/**
 * What a node's read of the embedded store costs once the file keeps a history: a store of
 * 10 000 routes `/svc<i>/*` committed STORE_REVISIONS times (20 by default; the store keeps 50),
 * then the configuration in force read both ways, five times each, in one process: the whole
 * document parsed (what every start and reload did before store/file-layout.ts) and
 * `FileStore.read()`, which reads the state's own bytes. Per read: wall and CPU ms, the longest
 * event-loop stall, and how far the heap grew.
 *
 *   node_modules/.bin/node --expose-gc dist/test/bench/store-read-cost.js
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import { FileStore } from '../../gateway/src/store/file-store.js';
import type { ConfigState } from '../../gateway/src/store/port.js';
import { routesConfig } from './routes-bench.js';

const ROUTES = 10_000;
const READS = 5;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc: the heap growth is read after a full GC');

const revisions = Number(process.env.STORE_REVISIONS ?? 20);
const dir = await mkdtemp(join(tmpdir(), 'store-read-cost-'));
const path = join(dir, 'switchboard.json');
try {
  const store = new FileStore(path, { pollMs: 60_000 });
  await store.open();
  // A different upstream port each time, so every commit is a new revision with a full snapshot.
  for (let i = 0; i < revisions; i++) await replaceConfig(store, routesConfig(ROUTES, 9000 + i), 'bench');
  console.log(`store: ${ROUTES} routes, ${revisions} revisions kept, ${((await stat(path)).size / 1048576).toFixed(1)} MiB`);

  const whole = async () => (JSON.parse(await readFile(path, 'utf8')) as { state: ConfigState }).state;
  const ways: Array<[string, () => Promise<ConfigState>]> = [
    ['whole document (before)', whole],
    ['state only (FileStore.read)', () => store.read()],
  ];
  for (const [name, read] of ways) {
    for (let i = 0; i < 2; i++) await read();
    gc();
    const base = process.memoryUsage().heapUsed;
    let grew = 0;
    const sampler = setInterval(() => (grew = Math.max(grew, process.memoryUsage().heapUsed - base)), 1);
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < READS; i++) {
      const state = await read();
      if (state.routes.length !== ROUTES) throw new Error(`${name} read ${state.routes.length} routes`);
      grew = Math.max(grew, process.memoryUsage().heapUsed - base);
    }
    const wall = (performance.now() - started) / READS;
    const used = process.cpuUsage(cpu);
    delay.disable();
    clearInterval(sampler);
    console.log(
      `  ${name.padEnd(28)} ${wall.toFixed(0).padStart(5)} ms/read  CPU ${((used.user + used.system) / 1000 / READS).toFixed(0).padStart(5)} ms  longest stall ${(delay.max / 1e6).toFixed(0).padStart(5)} ms  heap +${(grew / 1048576).toFixed(0)} MB`,
    );
  }
  await store.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
