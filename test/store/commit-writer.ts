import { FileStore } from '../../gateway/src/store/file-store.js';
import { RevisionConflictError } from '../../gateway/src/store/port.js';

/**
 * Child process for the lock test: `commits` changes to one store through the compare-and-swap
 * retry loop every admin change uses (read, compute, commit expecting that revision, retry on a
 * conflict), each with one audit entry naming it, then prints "done".
 */
const [path, writer, commits, staleMs] = process.argv.slice(2) as [string, string, string, string | undefined];
const store = new FileStore(path, { keepRevisions: 2, ...(staleMs ? { lockStaleMs: Number(staleMs) } : {}) });
await store.open();
for (let i = 0; i < Number(commits); i++) {
  for (;;) {
    const current = await store.read();
    try {
      await store.commit(current, {
        expectedRevision: current.revision,
        audit: [{ at: new Date().toISOString(), actor: writer, action: 'write', kind: 'test', id: `${writer}/${i}`, before: null, after: null }],
        keepRevision: false,
        actor: writer,
        action: 'write',
      });
      break;
    } catch (err) {
      if (!(err instanceof RevisionConflictError)) throw err;
    }
  }
}
process.stdout.write('done\n');
