import { FileStore } from '../../gateway/src/store/file-store.js';
import type { ConfigState } from '../../gateway/src/store/port.js';

/**
 * Child process for the crash test: commits big configurations in a loop until killed. Every
 * route of revision N carries "rev N" in its summary, so the parent can tell a whole revision
 * from a mixture.
 */
const path = process.argv[2]!;
const ROUTES = 3000;
const store = new FileStore(path, { keepRevisions: 2 });
await store.open();
// "ready" after the first commit: the kills then land inside later commits, at random moments
// of serialising, writing, syncing or renaming, rather than before any commit on a loaded machine.
let first = true;
for (;;) {
  const current = await store.read();
  const revision = current.revision + 1;
  const routes = Array.from({ length: ROUTES }, (_, i) => ({
    id: `r${i}`,
    version: revision,
    createdAt: '2030-01-01T00:00:00.000Z',
    updatedAt: '2030-01-01T00:00:00.000Z',
    name: `route-${i}`,
    methods: ['GET'],
    paths: [`/r/${i}`],
    upstream: 'pool',
    auth: 'none',
    docs: { summary: `rev ${revision}`, description: 'x'.repeat(200), public: true },
  }));
  const next = { ...current, revision, routes } as unknown as ConfigState;
  await store.commit(next, { expectedRevision: current.revision, audit: [], keepRevision: true, actor: 'crash-writer', action: 'write' });
  if (first) process.stdout.write('ready\n');
  first = false;
}
