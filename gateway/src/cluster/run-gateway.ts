import { startAdmin } from '../admin/admin-server.js';
import type { GatewayEnv } from '../env.js';
import type { Logger } from 'pino';
import { GatewayNode } from '../node/gateway-node.js';
import { openStore } from '../store/open-store.js';
import { defaultStages } from '../../../plugins/index.js';
import { systemRoutes } from '../node/system-routes.js';
import type { TracingSettings } from '../tracing/tracing-settings.js';
import { Lifecycle, registerLifecycleRoutes } from '../node/lifecycle.js';
import { shareEjections } from '../health/shared-ejections.js';
import { publishVerdicts, VerdictFollower } from '../health/shared-verdicts.js';
import type { WorkerLink } from './worker-link.js';
import { installGracefulStop } from './graceful-stop.js';
import type { ReadyInfo } from './messages.js';
import { printStarted } from './start-lines.js';

/** One gateway process: the whole node when WORKERS=1, else one worker of it (`link`). */
export async function runGateway(env: GatewayEnv, tracing: TracingSettings | undefined, logger: Logger, link: WorkerLink | undefined): Promise<void> {
  const store = await openStore(env.storeUrl);
  const closers: Array<() => Promise<unknown>> = [];
  // A cluster's demo runs once, in the primary; DEMO=0 does not even load the simulator.
  const demoKey = link || env.demo === false ? undefined : await (await import('./start-demo.js')).startDemo(env, store, logger, closers);

  const lifecycle = new Lifecycle();
  const identity = link ? { worker: link.slot, pid: process.pid } : undefined;
  const node = new GatewayNode({
    store,
    logger,
    port: env.port,
    host: env.host,
    redisUrl: env.redisUrl,
    nodeCounters: link,
    trustedProxies: env.trustedProxies,
    edge: env.edge,
    accessLog: env.accessLog,
    // The logger writes stdout a line at a time (errors must not wait); access lines are buffered.
    accessLogFd: 1,
    // OpenTelemetry's SDK and exporter (≈ 3 MB of heap) load only when tracing is on.
    tracer: tracing && new (await import('../tracing/otel-tracer.js')).OtelRequestTracer(tracing),
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
  // Every worker's passive ejections are the node's (health/shared-ejections.ts).
  if (link) {
    const sharing = shareEjections(node.upstreams, node.targets, (notice) => link.publishEjection(notice));
    link.followEjections((notice) => sharing.receive(notice));
    closers.push(async () => sharing.close());
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

