import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { startAdmin } from './admin/admin-server.js';
import { DEMO_UPSTREAM, demoConfig, demoPlan, demoWorkerPorts, startDemoWorkers } from './demo.js';
import { readEnv, type GatewayEnv } from './env.js';
import { redactUrl, redactUrls } from './redact-url.js';
import { createLogger } from './logger.js';
import { GatewayNode } from './node/gateway-node.js';
import { replaceConfig } from './config/replace-config.js';
import { openStore } from './store/open-store.js';
import type { ConfigStore } from './store/port.js';
import { defaultStages } from '../../plugins/index.js';
import { systemRoutes } from './node/system-routes.js';
import { issueKey } from './keys/key-service.js';
import { OtelRequestTracer } from './tracing/otel-tracer.js';
import { readTracingSettings, type TracingSettings } from './tracing/tracing-settings.js';
import { Lifecycle, registerLifecycleRoutes } from './node/lifecycle.js';
import { publishVerdicts, VerdictFollower } from './health/shared-verdicts.js';
import { ClusterPrimary } from './cluster/primary.js';
import { WorkerLink } from './cluster/worker-link.js';
import { workerCount } from './cluster/worker-count.js';
import { installGracefulStop } from './cluster/graceful-stop.js';
import type { ReadyInfo } from './cluster/messages.js';

type Logger = ReturnType<typeof createLogger>;

/**
 * `npm start`: the gateway on the configured store, with the demo on an empty one. WORKERS > 1
 * (node:cluster): this process becomes the primary — demo, forks, restarts, the node-wide
 * metrics merge — and each worker runs the gateway below, worker 1 with the admin listener.
 */
async function main(): Promise<void> {
  const env = readEnv();
  const tracing = readTracingSettings();
  const logger = createLogger(env.logLevel);
  if (cluster.isWorker) return runGateway(env, tracing, logger, new WorkerLink());
  const workers = workerCount(env.workers);
  if (workers > 1) return runPrimary(env, tracing, logger, workers);
  return runGateway(env, tracing, logger, undefined);
}

/** One gateway process: the whole node when WORKERS=1, else one worker of it (`link`). */
async function runGateway(env: GatewayEnv, tracing: TracingSettings | undefined, logger: Logger, link: WorkerLink | undefined): Promise<void> {
  const store = await openStore(env.storeUrl);
  const closers: Array<() => Promise<unknown>> = [];
  // A cluster's demo runs once, in the primary.
  const demoKey = link ? undefined : await startDemo(env, store, logger, closers);

  const lifecycle = new Lifecycle();
  const identity = link ? { worker: link.slot, pid: process.pid } : undefined;
  const node = new GatewayNode({
    store,
    logger,
    port: env.port,
    host: env.host,
    redisUrl: env.redisUrl,
    trustedProxies: env.trustedProxies,
    edge: env.edge,
    accessLog: env.accessLog,
    tracer: tracing && new OtelRequestTracer(tracing),
    stages: defaultStages(),
    systemRoutes: async (app, state, services) => {
      await systemRoutes(app, state, services);
      registerLifecycleRoutes(app, lifecycle, identity);
    },
  });
  // Worker 1 probes; the others take its verdicts (health/shared-verdicts.ts).
  if (link?.leader) {
    const unpublish = publishVerdicts(node.upstreams, (verdict) => link.publishVerdict(verdict));
    closers.push(async () => unpublish());
  }
  if (link && !link.leader) {
    const follower = new VerdictFollower(node.health.checker, node.upstreams, node.targets);
    link.followVerdicts((verdict) => follower.receive(verdict));
  }
  link?.answerScrapes(() => node.metrics.scrape());
  const gatewayMetrics = node.metrics;
  await node.start();
  const admin =
    link === undefined || link.leader
      ? await startAdmin({ env, store, node, logger, metrics: gatewayMetrics, scrape: link && (() => link.scrapeNode()), lifecycle, identity })
      : undefined;
  lifecycle.up(() => node.revision >= 0);

  installGracefulStop({
    lifecycle,
    listeners: () => node.listeners,
    closeStreams: (graceMs) => node.streams.close(graceMs),
    drainDelayMs: env.drainDelayMs,
    shutdownTimeoutMs: env.shutdownTimeoutMs,
    logger,
    closeRest: async () => {
      await admin?.close().catch(() => {});
      await node.close().catch(() => {});
      for (const close of closers) await close().catch(() => {});
      await store.close().catch(() => {});
    },
  });

  const info: ReadyInfo = {
    slot: link?.slot ?? 1,
    pid: process.pid,
    port: node.address.port,
    ...(node.tlsUrl ? { tlsPort: Number(new URL(node.tlsUrl).port) } : {}),
    revision: node.revision,
    ...(admin ? { admin: { url: admin.url, initialEmail: admin.initialEmail, initialPassword: admin.initialPassword } } : {}),
  };
  if (link) link.ready(info);
  else printStarted(env, tracing, [info], demoKey);
}

/** The primary of a WORKERS > 1 node: the demo once, then the workers (cluster/primary.ts). */
async function runPrimary(env: GatewayEnv, tracing: TracingSettings | undefined, logger: Logger, workers: number): Promise<void> {
  const closers: Array<() => Promise<unknown>> = [];
  const store = await openStore(env.storeUrl);
  let demoKey: string | undefined;
  try {
    demoKey = await startDemo(env, store, logger, closers);
  } finally {
    await store.close().catch(() => {});
  }
  const primary = new ClusterPrimary({ exec: fileURLToPath(import.meta.url), count: workers, logger, shutdownTimeoutMs: env.shutdownTimeoutMs });
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, workers }, 'shutting down: every worker drains its in-flight requests');
    await primary.stop('SIGTERM');
    for (const close of closers) await close().catch(() => {});
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  const ready = await primary.start();
  printStarted(env, tracing, ready, demoKey);
}

/** The demo's simulated GPUs (and, on an empty store, its configuration and key); the key if one was issued. */
async function startDemo(env: GatewayEnv, store: ConfigStore, logger: Logger, closers: Array<() => Promise<unknown>>): Promise<string | undefined> {
  const state = await store.read();
  const empty = state.upstreams.length === 0 && state.routes.length === 0 && state.consumers.length === 0;
  const demo = demoPlan({ demo: env.demo, storeKind: store.kind, empty, hasDemoUpstream: state.upstreams.some((u) => u.name === DEMO_UPSTREAM) });
  if (!demo.workers) return undefined;
  const ports = demoWorkerPorts();
  const workers = await startDemoWorkers(ports);
  closers.push(() => Promise.all(workers.map((w) => w.close())));
  if (!demo.seed) return undefined;
  const seeded = await replaceConfig(store, demoConfig(ports), 'system', 'demo.seed');
  logger.info({ revision: seeded.revision }, 'seeded the demo configuration');
  return issueDemoKey(store);
}

/** The lines an operator reads at start; worker 1's report holds the admin listener. */
function printStarted(env: GatewayEnv, tracing: TracingSettings | undefined, ready: readonly ReadyInfo[], demoKey: string | undefined): void {
  const first = ready.find((r) => r.admin) ?? ready[0]!;
  const admin = first.admin!;
  const publicUrl = `http://127.0.0.1:${first.port}`;
  const lines = [
    '',
    'Switchboard is running',
    `  partner traffic   ${publicUrl}   (listening on ${env.host}:${first.port})`,
    `  partner docs      ${publicUrl}/docs   OpenAPI ${publicUrl}/docs/openapi.json`,
    ...edgeLines(env, first),
    `  admin console     ${admin.url}/   API ${admin.url}/api/v1   metrics ${admin.url}/metrics`,
    `  store             ${redactUrl(env.storeUrl)}   revision ${first.revision}`,
  ];
  if (ready.length > 1) lines.push(`  workers           ${ready.length} processes (pids ${ready.map((r) => r.pid).join(', ')}), primary ${process.pid}`);
  if (env.redisUrl) lines.push(`  rate-limit redis  ${redactUrl(env.redisUrl)}`);
  if (tracing) lines.push(`  tracing (OTLP)    ${redactUrl(tracing.url)}   service ${tracing.serviceName}, sampler ${tracing.sampler}`);
  if (admin.initialPassword) lines.push(`  admin login       ${admin.initialEmail} / ${admin.initialPassword}   (shown once; change it)`);
  if (demoKey) {
    lines.push(`  demo API key      ${demoKey}   (shown once)`);
    lines.push('', 'Try it:', `  curl -s ${publicUrl}/v1/chat/completions -H 'x-api-key: ${demoKey}' -H 'content-type: application/json' \\`);
    lines.push(`    -d '{"model":"switchboard-demo-llm","messages":[{"role":"user","content":"Hello"}],"stream":true}'`);
  }
  process.stdout.write(lines.join('\n') + '\n\n');
}

/** The TLS listener's line (when TLS_PORT is set) and h2c's; a URL only where one answers without an SNI. */
function edgeLines(env: GatewayEnv, first: ReadyInfo): string[] {
  const lines: string[] = [];
  const { edge } = env;
  if (first.tlsPort !== undefined) {
    const bind = `${edge.tlsHost ?? env.host}:${first.tlsPort}`;
    const hasDefault = edge.tlsCertFile !== undefined || edge.defaultCertificate !== undefined;
    lines.push(
      hasDefault
        ? `  partner TLS       https://127.0.0.1:${first.tlsPort}   (HTTP/2 and HTTP/1.1; listening on ${bind})`
        : `  partner TLS       listening on ${bind}: HTTP/2 and HTTP/1.1 for server names a stored certificate claims (no TLS_CERT_FILE default)`,
    );
  }
  if (edge.h2c) lines.push(`  h2c               prior-knowledge HTTP/2 on the plain port too (H2C=1)`);
  if (edge.proxyProtocol) lines.push(`  PROXY protocol    required from TRUSTED_PROXIES (${env.trustedProxies.join(', ') || 'none set: every PROXY header is refused'})`);
  return lines;
}

/** The demo partner's key, created through the key store so it is hashed like any other. */
async function issueDemoKey(store: ConfigStore): Promise<string | undefined> {
  return (await issueKey(store, 'acme', { actor: 'system' })).key;
}

main().catch((err) => {
  process.stderr.write(`switchboard failed to start: ${redactUrls(String((err as Error).stack ?? err))}\n`);
  process.exit(1);
});
