/**
 * The gateway of `npm run bench -- routes`: what `npm start` runs (a node with the default
 * stages and system routes, plus the admin listener) on the file store at argv, and a probe of
 * its own event loop that the bench reads over a control port. The probe is a 5 ms timer whose
 * lateness is the longest stretch the loop could not serve a request — the stall a reload causes
 * to traffic on the old generation — alongside perf_hooks' monitorEventLoopDelay maximum.
 *
 * argv: JSON `{ "storePath": "...", "port": 1234, "controlPort": 1235, "adminPort": 1236 }`
 * GET /probe on the control port → { revision, maxStallMs, loopDelayMaxMs, rssBytes }; ?reset=1 first resets.
 */
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startAdmin } from '../../gateway/src/admin/admin-server.js';
import { createLogger } from '../../gateway/src/logger.js';
import { GatewayNode } from '../../gateway/src/node/gateway-node.js';
import { systemRoutes } from '../../gateway/src/node/system-routes.js';
import { FileStore } from '../../gateway/src/store/file-store.js';
import { defaultStages } from '../../plugins/index.js';

const options = JSON.parse(process.argv[2] ?? '{}') as { storePath: string; port: number; controlPort: number; adminPort: number };
const PROBE_MS = 5;

const logger = createLogger('warn');
const store = new FileStore(options.storePath, { pollMs: 100 });
await store.open();
const node = new GatewayNode({ store, logger, port: options.port, host: '127.0.0.1', stages: defaultStages(), systemRoutes });
await node.start();
const admin = await startAdmin({
  env: { adminPort: options.adminPort, adminHost: '127.0.0.1', adminEmail: 'bench@example.test', adminPassword: 'bench-password-not-secret' },
  store,
  node,
  logger,
  metrics: node.metrics,
});

const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
let maxStallMs = 0;
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  maxStallMs = Math.max(maxStallMs, now - last - PROBE_MS);
  last = now;
}, PROBE_MS);

createServer((req, res) => {
  if (req.url?.includes('reset=1')) {
    maxStallMs = 0;
    delay.reset();
  }
  const body = JSON.stringify({ revision: node.revision, maxStallMs, loopDelayMaxMs: delay.max / 1e6, rssBytes: process.memoryUsage.rss() });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}).listen(options.controlPort, '127.0.0.1');

const stop = () => {
  void admin
    .close()
    .then(() => node.close())
    .then(() => store.close())
    .finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
