/**
 * What N routes with stages cost a node: `node --expose-gc --max-semi-space-size=4 dist/test/scale/staged-routes-cost.js
 * [N] [auth|limits]` starts a node on a file store holding N `auth: api-key` routes (`limits`: each
 * with a route rate limit, and a consumer with a limit of its own, the default) and prints one JSON
 * line: start-up time, and RSS and heap after a full GC. Not part of `npm test`: absolute figures
 * depend on the machine; compare builds in one session.
 */
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import { manyRoutes, startNode, tempStore } from './scale-fixtures.js';

const n = Number(process.argv[2] ?? 10_000);
const limits = (process.argv[3] ?? 'limits') === 'limits';
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc: the figures are read after a full GC');

const { store, storePath, dispose } = await tempStore();
const extra = limits ? { auth: 'api-key', rateLimit: { max: 100 } } : { auth: 'api-key' };
await replaceConfig(store, { ...manyRoutes(n, 'http://127.0.0.1:9', extra), consumers: [{ name: 'acme', ...(limits ? { rateLimit: { max: 1000 } } : {}) }] }, 'bench');
const started = performance.now();
const gw = await startNode(store, storePath, dispose);
const startMs = performance.now() - started;
gc();
await new Promise((resolve) => setTimeout(resolve, 500));
gc();
const { rss, heapUsed } = process.memoryUsage();
// A keyed route without a key: proves the last route is served, through its stages.
const status = (await fetch(`${gw.node.url}/svc${n - 1}/x`)).status;
process.stdout.write(JSON.stringify({ routes: n, limits, startMs: Math.round(startMs), rssMiB: Math.round(rss / 2 ** 20), heapMB: Number((heapUsed / 1e6).toFixed(1)), unkeyedStatus: status }) + '\n');
await gw.close();
