import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '../../gateway/src/store/file-store.js';
import { storeContract } from './store-contract.js';

storeContract('embedded file store', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-store-'));
  const path = join(dir, 'switchboard.json');
  return {
    open: async (options = {}) => {
      const store = new FileStore(path, { pollMs: 200, ...options });
      await store.open();
      return store;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
