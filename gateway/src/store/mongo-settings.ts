import type { MongoClientOptions } from 'mongodb';

/** Where the store's data lands when the URL names no database (the driver's own default is `test`). */
export const DEFAULT_DB_NAME = 'switchboard';

export interface MongoSettings {
  dbName: string;
  /** Options for `new MongoClient(url, …)`: only what the URL leaves open. */
  clientOptions: MongoClientOptions;
  /** Option names the URL sets, lower-cased (URI options are case-insensitive). */
  urlOptions: Set<string>;
  /** directConnection=true in the URL (then a secondary must be refused at open). */
  directConnection: boolean;
}

export interface MongoSettingsInput {
  /** Overrides the URL's database (tests use one database each). */
  dbName?: string | undefined;
  /** An explicit choice of the caller; otherwise the URL's, otherwise the default below. */
  serverSelectionTimeoutMS?: number | undefined;
}

/**
 * Defaults for what the URL does not say. The driver lets code options override the URL's, so
 * each is passed only when the URL is silent (DocumentDB needs retryWrites=false; an operator's
 * w=1 or serverSelectionTimeoutMS must stand).
 * - serverSelectionTimeoutMS 15 s: a replica-set election takes up to electionTimeoutMillis
 *   (10 s) plus the vote; a commit should wait it out rather than fail in the middle of one.
 * - w majority + wtimeoutMS 10 s: an acknowledged change survives a failover, and a majority that
 *   cannot be reached (two of three members down) is an error after 10 s, not a hang (the
 *   driver's timeoutMS is a no-op in this driver line: lib/connection_string.js marks it ignored).
 * - socketTimeoutMS 60 s: a connection that stops answering is dropped (change-stream getMores
 *   wait ≤ 1 s server-side, so this never cuts a healthy one).
 */
const DEFAULTS: Array<[string, (input: MongoSettingsInput) => Partial<MongoClientOptions>]> = [
  ['serverSelectionTimeoutMS', (i) => ({ serverSelectionTimeoutMS: i.serverSelectionTimeoutMS ?? 15_000 })],
  ['w', () => ({ w: 'majority' })],
  ['wtimeoutMS', () => ({ wtimeoutMS: 10_000 })],
  ['retryWrites', () => ({ retryWrites: true })],
  ['retryReads', () => ({ retryReads: true })],
  ['socketTimeoutMS', () => ({ socketTimeoutMS: 60_000 })],
];

/**
 * The parts of a MongoDB URL the store decides on, read the way the driver reads them
 * (lib/connection_string.js parseOptions: the path after the hosts is the database,
 * percent-decoded; query keys are case-insensitive). Hand-read rather than with `new URL()`:
 * a seed list `h1:27017,h2:27017` is no WHATWG URL.
 */
export function mongoSettings(url: string, input: MongoSettingsInput = {}): MongoSettings {
  const match = /^mongodb(?:\+srv)?:\/\/([^/?]*)(?:\/([^?]*))?(?:\?(.*))?$/.exec(url);
  if (!match) throw new Error('STORE_URL is not a mongodb:// or mongodb+srv:// URL');
  const query = new URLSearchParams(match[3] ?? '');
  const urlOptions = new Set([...query.keys()].map((k) => k.toLowerCase()));
  const urlDb = match[2] ? decodeURIComponent(match[2]) : '';
  const clientOptions: MongoClientOptions = {
    // Code semantics, not a connection detail: an absent optional field must read back absent.
    ignoreUndefined: true,
  };
  for (const [name, option] of DEFAULTS) {
    const explicit = name === 'serverSelectionTimeoutMS' && input.serverSelectionTimeoutMS !== undefined;
    if (explicit || !urlOptions.has(name.toLowerCase())) Object.assign(clientOptions, option(input));
  }
  const direct = [...query.entries()].find(([k]) => k.toLowerCase() === 'directconnection')?.[1];
  return { dbName: input.dbName ?? (urlDb || DEFAULT_DB_NAME), clientOptions, urlOptions, directConnection: direct === 'true' };
}
