/**
 * A gateway process for compile-failures.test.ts: a node on the file store at argv[2] with one
 * extra stage that, for a route named "throws-later", throws from the event loop while the
 * revision compiles — the way Fastify's hook runner threw its RangeError from inside avvio. Runs
 * as its own process because the test runner reports any uncaught exception in its own process
 * as a failure, and because "the process is still alive" is the point.
 *
 * Prints one JSON line when serving ({ url }), then one each time a revision fails to compile
 * ({ lastError, failures }).
 */
import { pino } from 'pino';
import type { RouteStage } from '../../gateway/src/generation/route-stage.js';
import { defaultStages } from '../../plugins/index.js';
import { GatewayNode } from '../../gateway/src/node/gateway-node.js';
import { systemRoutes } from '../../gateway/src/node/system-routes.js';
import { FileStore } from '../../gateway/src/store/file-store.js';

const throwsLater: RouteStage = {
  name: 'throws-later',
  applies: (route) => route.name === 'throws-later',
  async register() {
    setImmediate(() => {
      throw new RangeError('Maximum call stack size exceeded (thrown from the event loop by a test stage)');
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
  },
};

const store = new FileStore(process.argv[2]!, { pollMs: 100 });
await store.open();
const node = new GatewayNode({ store, logger: pino({ level: 'silent' }), port: 0, host: '127.0.0.1', stages: [...defaultStages(), throwsLater], systemRoutes });
await node.start();
process.stdout.write(JSON.stringify({ url: node.url }) + '\n');
let seen: string | undefined;
setInterval(() => {
  const at = node.lastError?.at;
  if (at === undefined || at === seen) return;
  seen = at;
  const failures = /^switchboard_config_reload_failures_total (\d+)$/m.exec(node.metrics.render())?.[1];
  process.stdout.write(JSON.stringify({ lastError: node.lastError, failures: Number(failures) }) + '\n');
}, 20);
process.on('SIGTERM', () => {
  void node.close().then(() => process.exit(0));
});
