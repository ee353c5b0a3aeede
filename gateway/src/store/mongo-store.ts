import type { ConfigStore } from './port.js';

// Placeholder until the MongoDB adapter lands (admin/MongoDB issue); fails loudly, never silently.
export class MongoStore {
  constructor(_url: string) {
    throw new Error('the MongoDB store is not available in this build yet');
  }
}
export type _Check = ConfigStore;
