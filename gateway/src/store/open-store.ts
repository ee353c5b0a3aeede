import { FileStore } from './file-store.js';
import type { ConfigStore } from './port.js';

export const DEFAULT_STORE_URL = 'file:./data/switchboard.json';

/** `file:PATH` → embedded store; `mongodb://…` / `mongodb+srv://…` → MongoDB. */
export async function openStore(url = process.env.STORE_URL || DEFAULT_STORE_URL): Promise<ConfigStore> {
  let store: ConfigStore;
  if (url.startsWith('file:')) {
    store = new FileStore(url.slice('file:'.length));
  } else if (url.startsWith('mongodb://') || url.startsWith('mongodb+srv://')) {
    const { MongoStore } = await import('./mongo-store.js');
    store = new MongoStore(url) as unknown as ConfigStore;
  } else {
    throw new Error(`STORE_URL must start with file:, mongodb:// or mongodb+srv:// (got "${url.replace(/\/\/[^@]*@/, '//***@')}")`);
  }
  await store.open();
  return store;
}
