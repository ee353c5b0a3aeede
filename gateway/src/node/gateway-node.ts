import { ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { UPGRADE_HEAD } from '../proxy/upgrade.js';
import type { AddressInfo } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { TargetRegistry } from '../balancer/target-registry.js';
import { UpstreamRegistry, type PoolPlan } from '../balancer/upstream-registry.js';
import { compileGeneration } from '../generation/compile.js';
import { compileTimeLimitMs, containCompile } from '../generation/compile-guard.js';
import { dryCompiler, type DryCompile } from '../generation/dry-compile.js';
import type { Generation } from '../generation/generation.js';
import type { RequestObserver } from '../contracts/request-observer.js';
import type { RequestTracer } from '../contracts/request-tracer.js';
import type { ConfigStatus, RouteStage, StageServices } from '../generation/route-stage.js';
import type { ConfigState, ConfigStore } from '../store/port.js';
import { attachHealth } from '../health/index.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { Counter, GaugeFunction } from '../metrics/prometheus.js';
import { clientIpResolver } from '../generation/client-address.js';
import { bufferedAccessLog, pinoAccessLog } from '../contracts/access-log.js';
import { admitRequestTarget, refuseRequest } from './request-target.js';
import { selfAnswered, unparsedAnswered, type SelfAnswered, type UnparsedAnswered } from '../generation/self-answered.js';
import { PublicListeners } from './listeners.js';
import type { EdgeSettings } from './edge-settings.js';
import type { SkippedCertificate } from './sni.js';
import { StreamSet } from '../streams/stream-set.js';

export interface GatewayNodeOptions {
  store: ConfigStore;
  /** Shared rate-limit counters (REDIS_URL); memory when absent. */
  redisUrl?: string | undefined;
  /** WORKERS > 1: the node's request-limit and quota counters, held by the cluster primary. */
  nodeCounters?: import('../contracts/node-counters.js').NodeCounters | undefined;
  /** One log line per answered request (ACCESS_LOG=1). */
  accessLog?: boolean | undefined;
  /**
   * Where those lines go in buffered writes (`npm start`: stdout, fd 1; contracts/access-log.ts);
   * when absent they go through `logger`, a line at a time.
   */
  accessLogFd?: number | undefined;
  /** CIDRs of proxies in front of the gateway whose x-forwarded-for is believed (TRUSTED_PROXIES). */
  trustedProxies?: readonly string[] | undefined;
  logger: FastifyBaseLogger;
  port: number;
  host: string;
  stages?: readonly RouteStage[];
  observer?: RequestObserver;
  /** TLS listener, h2c, PROXY protocol (TLS_PORT, H2C, PROXY_PROTOCOL…); none = plain HTTP/1.1 only. */
  edge?: EdgeSettings | undefined;
  /** A SERVER span per request and a CLIENT span per attempt (OTEL_EXPORTER_OTLP_ENDPOINT); none = off. */
  tracer?: RequestTracer | undefined;
  /** Routes every generation serves besides the configured ones (/healthz, docs); `services` are the node's. */
  systemRoutes?: (app: FastifyInstance, state: ConfigState, services: StageServices) => void | Promise<void>;
}

/**
 * The public side of one gateway process: one http.Server whose handler points at the current
 * Generation. A new store revision compiles into a new Generation next to the old one; the
 * pointer moves in one assignment; the old one drains and closes. Nothing is restarted and no
 * request sees a half-applied configuration.
 */
export class GatewayNode {
  readonly targets = new TargetRegistry();
  readonly upstreams = new UpstreamRegistry(this.targets);
  readonly services: StageServices;
  /** Active probes and outlier detection for every pool, across reloads. */
  readonly health = attachHealth(this.upstreams);
  /** The metrics of the contract; also told of every proxied request's end. */
  readonly metrics = new GatewayMetrics(this.upstreams);
  private readonly closers: Array<() => void | Promise<void>> = [];
  private current: Generation | undefined;
  private server: PublicListeners | undefined;
  /** The certificates of the generation in force, for the TLS listener's SNI (node/sni.ts). */
  private certificatesInForce: ConfigState['certificates'] = [];
  /** Stored certificates the TLS listener could not load (expired, unreadable): served without them, named here and in the log. */
  skippedCertificates: SkippedCertificate[] = [];
  private unwatch: (() => void) | undefined;
  private reloading: Promise<void> = Promise.resolve();
  /** Revision that failed to compile, so the watcher does not retry it in a loop. */
  private failedRevision = -1;
  lastError: { revision: number; message: string; at: string } | undefined;
  /** Revisions that failed to compile here; the previous generation kept serving each time. */
  private readonly reloadFailures = this.metrics.registry.register(
    new Counter('switchboard_config_reload_failures_total', 'Configuration revisions that failed to compile on this node (the previous one kept serving).'),
  );
  /** When the revision in force came into force on this node (the console's overview shows it). */
  revisionSince: string | undefined;
  /** Told of every proxied request's end; the node's metrics unless an embedder says otherwise. */
  observer: RequestObserver | undefined;
  /** Counts and logs the 400s the edge answers before any route could match (admit). */
  private readonly refused: SelfAnswered | undefined;
  /** Counts and logs what node:http's parser refuses before a request exists (client-error.ts). */
  private readonly refusedConnection: UnparsedAnswered | undefined;
  /** TCP (L4) listeners of the `streams` collection, opened and closed with each revision. */
  readonly streams: StreamSet;

  constructor(private readonly options: GatewayNodeOptions) {
    this.services = {
      logger: options.logger,
      store: options.store,
      metrics: this.metrics,
      redisUrl: options.redisUrl,
      nodeCounters: options.nodeCounters,
      clientIp: clientIpResolver(options.trustedProxies),
      accessLog: !options.accessLog ? undefined : options.accessLogFd === undefined ? pinoAccessLog(options.logger) : bufferedAccessLog(options.logger, options.accessLogFd),
      shared: new Map(),
      configStatus: () => this.configStatus,
      onClose: (close) => void this.closers.push(close),
    };
    this.observer = options.observer ?? this.metrics;
    this.refused = selfAnswered(this.services, this.observer);
    this.refusedConnection = unparsedAnswered(this.services, this.observer);
    this.streams = new StreamSet({ upstreams: this.upstreams, logger: options.logger, metrics: this.metrics.registry, defaultHost: options.host });
    // Exported from the start at 0, so a rate() over it works before the first failure.
    this.reloadFailures.inc('', () => ({}), 0);
    if (options.edge?.tlsPort !== undefined) this.registerCertificateMetrics();
  }

  get revision(): number {
    return this.current?.revision ?? -1;
  }

  get generation(): Generation | undefined {
    return this.current;
  }

  get address(): AddressInfo {
    return this.server!.address;
  }

  /** The public listeners, for a graceful stop (node/drain.ts); every listener a node opens belongs here. */
  get listeners(): Server[] {
    return this.server ? this.server.servers : [];
  }

  get url(): string {
    const { port } = this.address;
    const host = this.options.host === '0.0.0.0' || this.options.host === '::' ? '127.0.0.1' : this.options.host;
    return `http://${host}:${port}`;
  }

  /** The TLS listener's URL (TLS_PORT), undefined when it is off. */
  get tlsUrl(): string | undefined {
    const address = this.server?.tlsAddress;
    if (!address) return undefined;
    const bind = this.options.edge?.tlsHost ?? this.options.host;
    const host = bind === '0.0.0.0' || bind === '::' ? '127.0.0.1' : bind;
    return `https://${host}:${address.port}`;
  }

  /**
   * Whether this node serves the store's newest revision. When the newest does not compile, the
   * node keeps (or, at start, falls back to) an older one and says so on /healthz and the admin API.
   */
  get configStatus(): ConfigStatus {
    const failed = this.lastError;
    if (failed === undefined || failed.revision <= this.revision) return { servingRevision: this.revision, degraded: false };
    return { servingRevision: this.revision, degraded: true, newestRevision: failed.revision, error: failed.message, failedAt: failed.at };
  }

  /** Compile a state as this node would, without serving it (admin API saves, before commit). */
  get dryCompile(): DryCompile {
    return dryCompiler({ stages: this.options.stages ?? [], services: this.services, observer: undefined, systemRoutes: this.systemRoutes() });
  }

  async start(): Promise<void> {
    await this.reload();
    if (!this.current && this.lastError === undefined) throw new Error('the configuration store could not be read');
    if (!this.current) await this.startOnOlderRevision();
    const tracer = this.options.tracer;
    const handler = tracer
      ? (req: IncomingMessage, res: ServerResponse) => {
          tracer.begin(req, res);
          if (this.admit(req, res)) this.current!.handle(req, res);
        }
      : (req: IncomingMessage, res: ServerResponse) => {
          if (this.admit(req, res)) this.current!.handle(req, res);
        };
    const listeners = new PublicListeners({
      port: this.options.port,
      host: this.options.host,
      edge: this.options.edge ?? {},
      trustedProxies: this.options.trustedProxies,
      handler,
      upgrade: (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head),
      logger: this.options.logger,
      clientErrorAnswered: this.refusedConnection,
    });
    this.server = listeners;
    this.useCertificates();
    await listeners.listen();
    this.unwatch = this.options.store.watch((revision) => {
      if (revision !== this.revision && revision !== this.failedRevision) void this.reload();
    });
  }

  /**
   * Upgrade requests (WebSocket) skip Node's ServerResponse; give them one on their socket so
   * they take the same path as any request — routing, the route's stages, then the proxy, which
   * joins the sockets once the target agrees (proxy/upgrade.ts).
   */
  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    (req as IncomingMessage & { [UPGRADE_HEAD]?: Buffer })[UPGRADE_HEAD] = head;
    socket.on('error', () => socket.destroy());
    const res = new ServerResponse(req);
    res.assignSocket(socket);
    res.shouldKeepAlive = false;
    res.on('finish', () => socket.destroySoon?.() ?? socket.end());
    this.options.tracer?.begin(req, res);
    if (this.admit(req, res)) this.current!.handle(req, res);
  }

  /**
   * One reading of the request-target and Host for the router, the stages and the upstream
   * (node/request-target.ts): normalizes `req.url` in place, or answers 400 and returns false.
   */
  private admit(req: IncomingMessage, res: ServerResponse): boolean {
    const refusal = admitRequestTarget(req);
    if (refusal === undefined) return true;
    this.refused?.(req, refuseRequest(res, refusal), 400, undefined);
    return false;
  }

  /** Load the store's current revision and switch to it. Serialized; coalesces bursts. */
  reload(): Promise<void> {
    this.reloading = this.reloading
      .then(() => this.reloadOnce())
      .catch((err) => this.options.logger.error({ err }, 'configuration reload failed'));
    return this.reloading;
  }

  private async reloadOnce(): Promise<void> {
    let state: ConfigState;
    try {
      state = await this.options.store.read();
    } catch (err) {
      // The store is away: keep serving the last good generation.
      this.options.logger.warn({ err }, 'configuration store unreachable; keeping the current configuration');
      return;
    }
    if (this.current && state.revision === this.current.revision) return;
    if (state.revision === this.failedRevision) return;
    const err = await this.switchTo(state);
    if (err === undefined) return;
    this.failedRevision = state.revision;
    this.lastError = { revision: state.revision, message: err.message, at: new Date().toISOString() };
    this.reloadFailures.inc('', () => ({}));
    this.options.logger.error({ err, revision: state.revision, serving: this.revision }, 'configuration revision failed to compile; the previous one keeps serving');
  }

  /**
   * The store's newest revision does not compile and nothing serves yet: start on the newest
   * kept revision that does, rather than crash-looping on the newest. If none does, serve only
   * the system routes (/healthz says why) and answer 503 to everything else, so the node stays
   * up for its health checks and the admin API, where the configuration can be fixed.
   */
  private async startOnOlderRevision(): Promise<void> {
    const newest = this.lastError!;
    const current = await this.options.store.read();
    const records = await this.options.store.listRevisions().catch(() => []);
    for (const record of records) {
      if (record.revision >= newest.revision) continue;
      const consumers = new Set(record.state.consumers.map((c) => c.id));
      const older: ConfigState = { ...current, ...record.state, revision: record.revision, keys: current.keys.filter((k) => consumers.has(k.consumer)) };
      const err = await this.switchTo(older);
      if (err === undefined) {
        this.options.logger.error(
          { newestRevision: newest.revision, servingRevision: record.revision, cause: newest.message },
          `configuration revision ${newest.revision} does not compile; this node serves revision ${record.revision} instead until a newer revision compiles`,
        );
        return;
      }
      this.options.logger.warn({ err, revision: record.revision }, 'an older configuration revision does not compile either');
    }
    const empty: ConfigState = { ...current, revision: -1, routes: [], upstreams: [], consumers: [], keys: [] };
    const unavailable = `no stored configuration revision compiles (revision ${newest.revision}: ${newest.message}); fix the configuration through the admin API`;
    const err = await this.switchTo(empty, unavailable);
    if (err !== undefined) throw err;
    this.options.logger.error({ newestRevision: newest.revision, cause: newest.message }, `no stored configuration revision compiles; serving system routes only, 503 to everything else`);
  }

  /** Compile `state` next to the generation in force and switch to it; the error if it does not compile. */
  private async switchTo(state: ConfigState, unavailable?: string): Promise<Error | undefined> {
    let plan: PoolPlan | undefined;
    let next: Generation;
    try {
      plan = this.upstreams.plan(state.upstreams, state.certificates ?? []);
      const pools = plan.pools;
      next = await containCompile(
        () =>
          compileGeneration(state, {
            pools,
            stages: this.options.stages ?? [],
            services: this.services,
            observer: this.observer,
            systemRoutes: this.systemRoutes(),
            unavailable,
          }),
        compileTimeLimitMs(state.routes.length),
        (late) => void late.app.close().catch(() => {}),
      );
    } catch (err) {
      plan?.rollback();
      return err instanceof Error ? err : new Error(String(err));
    }
    const previous = this.current;
    this.current = next;
    plan.commit();
    this.certificatesInForce = state.certificates ?? [];
    this.useCertificates();
    await this.streams.apply(state.streams ?? []);
    this.revisionSince = new Date().toISOString();
    if (this.lastError !== undefined && this.lastError.revision <= state.revision) this.lastError = undefined;
    this.options.logger.info({ revision: state.revision, routes: state.routes.length, upstreams: state.upstreams.length }, 'configuration revision in force');
    if (previous) void previous.retire();
    return undefined;
  }

  /** Expiry per served certificate (alert well before it), and how many stored ones cannot be served. */
  private registerCertificateMetrics(): void {
    const registry = this.metrics.registry;
    registry.register(
      new GaugeFunction('switchboard_tls_certificate_not_after_seconds', 'When each certificate the TLS listener serves expires (Unix time); certificate="default" is TLS_CERT_FILE.', () => {
        const out: Array<{ labels: Record<string, string>; value: number }> = [];
        const book = this.server?.certificates;
        const fallback = this.server?.defaultNotAfter;
        if (fallback !== undefined) out.push({ labels: { certificate: 'default' }, value: Math.floor(fallback / 1000) });
        for (const served of book?.served ?? []) out.push({ labels: { certificate: served.name }, value: Math.floor(served.notAfter / 1000) });
        return out;
      }),
    );
    registry.register(
      new GaugeFunction('switchboard_tls_certificates_skipped', 'Stored certificates the TLS listener cannot serve (expired, unreadable); each is named in the log.', () => [{ labels: {}, value: this.skippedCertificates.length }]),
    );
  }

  /**
   * How this node's TLS listener holds the stored certificate `name`: served (and when it
   * expires), skipped (and why), or not in force on this node. Each node loads certificates
   * for itself, so this is the node's answer, not the collection's.
   */
  certificateStatus(name: string): { name: string; served: boolean; notAfter?: string; reason?: string } | undefined {
    if (!this.certificatesInForce.some((c) => c.name === name)) return undefined;
    if (this.server?.certificates === undefined) return { name, served: false, reason: 'this node has no TLS listener (TLS_PORT is unset)' };
    const skipped = this.skippedCertificates.find((c) => c.name === name);
    if (skipped !== undefined) return { name, served: false, reason: skipped.reason };
    const served = this.server.certificates.served.find((c) => c.name === name);
    if (served === undefined) return { name, served: false, reason: 'not loaded by the TLS listener' };
    return { name, served: true, notAfter: new Date(served.notAfter).toISOString() };
  }

  /** New TLS handshakes use the generation's certificates; one that cannot be loaded is skipped and logged, never fatal. */
  private useCertificates(): void {
    if (!this.server) return;
    this.skippedCertificates = this.server.useCertificates(this.certificatesInForce);
    for (const skipped of this.skippedCertificates)
      this.options.logger.error({ certificate: skipped.name, reason: skipped.reason }, 'a stored certificate cannot be served; the TLS listener serves without it');
  }

  /** Handed the node's services: the docs portal verifies keys and JWTs with them. */
  private systemRoutes() {
    const routes = this.options.systemRoutes;
    return routes && ((app: FastifyInstance, compiled: ConfigState) => routes(app, compiled, this.services));
  }

  async close(): Promise<void> {
    this.unwatch?.();
    await this.server?.close();
    await this.current?.retire();
    await this.streams.close();
    this.health.close();
    for (const close of this.closers.splice(0)) await Promise.resolve().then(close).catch((err) => this.options.logger.warn({ err }, 'a stage failed to close'));
    this.upstreams.close();
    await this.targets.close();
    // Last: the spans of the requests that drained above are flushed to the collector, their access lines written.
    await this.options.tracer?.close().catch((err) => this.options.logger.warn({ err }, 'tracing export failed to flush'));
    this.services.accessLog?.flush?.();
  }
}
