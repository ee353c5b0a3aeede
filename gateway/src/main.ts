import { startAdmin } from './admin/admin-server.js';
import { DEMO_UPSTREAM, demoConfig, demoPlan, demoWorkerPorts, startDemoWorkers } from './demo.js';
import { readEnv } from './env.js';
import { redactUrl, redactUrls } from './redact-url.js';
import { createLogger } from './logger.js';
import { GatewayNode } from './node/gateway-node.js';
import { replaceConfig } from './config/replace-config.js';
import { openStore } from './store/open-store.js';
import { defaultStages } from '../../plugins/index.js';
import { systemRoutes } from './node/system-routes.js';
import { issueKey } from './keys/key-service.js';

/** `npm start`: one gateway process on the configured store, with the demo on an empty one. */
async function main(): Promise<void> {
  const env = readEnv();
  const logger = createLogger(env.logLevel);
  const store = await openStore(env.storeUrl);
  let state = await store.read();
  const closers: Array<() => Promise<unknown>> = [];

  const empty = state.upstreams.length === 0 && state.routes.length === 0 && state.consumers.length === 0;
  const demo = demoPlan({ demo: env.demo, storeKind: store.kind, empty, hasDemoUpstream: state.upstreams.some((u) => u.name === DEMO_UPSTREAM) });
  let demoKey: string | undefined;
  if (demo.workers) {
    const ports = demoWorkerPorts();
    const workers = await startDemoWorkers(ports);
    closers.push(() => Promise.all(workers.map((w) => w.close())));
    if (demo.seed) {
      state = await replaceConfig(store, demoConfig(ports), 'system', 'demo.seed');
      logger.info({ revision: state.revision }, 'seeded the demo configuration');
      demoKey = await issueDemoKey(store);
    }
  }

  const node = new GatewayNode({ store, logger, port: env.port, host: env.host, redisUrl: env.redisUrl, trustedProxies: env.trustedProxies, accessLog: env.accessLog, stages: defaultStages(), systemRoutes });
  const gatewayMetrics = node.metrics;
  await node.start();
  const admin = await startAdmin({ env, store, node, logger, metrics: gatewayMetrics });

  const publicUrl = `http://127.0.0.1:${node.address.port}`;
  const lines = [
    '',
    'Switchboard is running',
    `  partner traffic   ${publicUrl}   (listening on ${env.host}:${node.address.port})`,
    `  partner docs      ${publicUrl}/docs   OpenAPI ${publicUrl}/docs/openapi.json`,
    `  admin console     ${admin.url}/   API ${admin.url}/api/v1   metrics ${admin.url}/metrics`,
    `  store             ${redactUrl(env.storeUrl)}   revision ${node.revision}`,
  ];
  if (env.redisUrl) lines.push(`  rate-limit redis  ${redactUrl(env.redisUrl)}`);
  if (admin.initialPassword) lines.push(`  admin login       ${admin.initialEmail} / ${admin.initialPassword}   (shown once; change it)`);
  if (demoKey) {
    lines.push(`  demo API key      ${demoKey}   (shown once)`);
    lines.push('', 'Try it:', `  curl -s ${publicUrl}/v1/chat/completions -H 'x-api-key: ${demoKey}' -H 'content-type: application/json' \\`);
    lines.push(`    -d '{"model":"switchboard-demo-llm","messages":[{"role":"user","content":"Hello"}],"stream":true}'`);
  }
  process.stdout.write(lines.join('\n') + '\n\n');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: draining in-flight requests');
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    await admin.close().catch(() => {});
    await node.close().catch(() => {});
    for (const close of closers) await close().catch(() => {});
    await store.close().catch(() => {});
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

/** The demo partner's key, created through the key store so it is hashed like any other. */
async function issueDemoKey(store: Awaited<ReturnType<typeof openStore>>): Promise<string | undefined> {
  return (await issueKey(store, 'acme', { actor: 'system' })).key;
}

main().catch((err) => {
  process.stderr.write(`switchboard failed to start: ${redactUrls(String((err as Error).stack ?? err))}\n`);
  process.exit(1);
});
