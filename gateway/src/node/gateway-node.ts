import { createServer, ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { UPGRADE_HEAD } from '../proxy/upgrade.js';
import type { AddressInfo } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { TargetRegistry } from '../balancer/target-registry.js';
import { UpstreamRegistry, type PoolPlan } from '../balancer/upstream-registry.js';
import { compileGeneration } from '../generation/compile.js';
import type { Generation } from '../generation/generation.js';
import type { RequestObserver } from '../generation/request-observer.js';
import type { RouteStage, StageServices } from '../generation/route-stage.js';
import type { ConfigState, ConfigStore } from '../store/port.js';
import { attachHealth } from '../health/index.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { clientIpResolver } from '../generation/client-address.js';
import { pinoAccessLog } from './access-log.js';
import { admitRequestTarget, refuseRequest } from './request-target.js';

export interface GatewayNodeOptions {
  store: ConfigStore;
  /** Shared rate-limit counters (REDIS_URL); memory when absent. */
  redisUrl?: string | undefined;
  /** One log line per answered request (ACCESS_LOG=1). */
  accessLog?: boolean | undefined;
  /** CIDRs of proxies in front of the gateway whose x-forwarded-for is believed (TRUSTED_PROXIES). */
  trustedProxies?: readonly string[] | undefined;
  logger: FastifyBaseLogger;
  port: number;
  host: string;
  stages?: readonly RouteStage[];
  observer?: RequestObserver;
  /** Routes every generation serves besides the configured ones (/healthz, docs). */
  systemRoutes?: (app: FastifyInstance, state: ConfigState) => void | Promise<void>;
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
  private server: Server | undefined;
  private unwatch: (() => void) | undefined;
  private reloading: Promise<void> = Promise.resolve();
  /** Revision that failed to compile, so the watcher does not retry it in a loop. */
  private failedRevision = -1;
  lastError: { revision: number; message: string; at: string } | undefined;
  /** When the revision in force came into force on this node (the console's overview shows it). */
  revisionSince: string | undefined;
  /** Told of every proxied request's end; the node's metrics unless an embedder says otherwise. */
  observer: RequestObserver | undefined;

  constructor(private readonly options: GatewayNodeOptions) {
    this.services = {
      logger: options.logger,
      store: options.store,
      metrics: this.metrics,
      redisUrl: options.redisUrl,
      clientIp: clientIpResolver(options.trustedProxies),
      accessLog: options.accessLog ? pinoAccessLog(options.logger) : undefined,
      shared: new Map(),
      onClose: (close) => void this.closers.push(close),
    };
    this.observer = options.observer ?? this.metrics;
  }

  get revision(): number {
    return this.current?.revision ?? -1;
  }

  get generation(): Generation | undefined {
    return this.current;
  }

  get address(): AddressInfo {
    return this.server!.address() as AddressInfo;
  }

  get url(): string {
    const { port } = this.address;
    const host = this.options.host === '0.0.0.0' || this.options.host === '::' ? '127.0.0.1' : this.options.host;
    return `http://${host}:${port}`;
  }

  async start(): Promise<void> {
    await this.reload();
    if (!this.current) throw new Error(this.lastError?.message ?? 'no configuration could be compiled');
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      if (this.admit(req, res)) this.current!.handle(req, res);
    };
    const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 }, handler);
    this.server = server;
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
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
    if (this.admit(req, res)) this.current!.handle(req, res);
  }

  /**
   * One reading of the request-target and Host for the router, the stages and the upstream
   * (node/request-target.ts): normalizes `req.url` in place, or answers 400 and returns false.
   */
  private admit(req: IncomingMessage, res: ServerResponse): boolean {
    const refusal = admitRequestTarget(req);
    if (refusal === undefined) return true;
    refuseRequest(res, refusal);
    this.observer?.completed('none', 400, 0);
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
    let plan: PoolPlan | undefined;
    let next: Generation;
    try {
      plan = this.upstreams.plan(state.upstreams);
      next = await compileGeneration(state, {
        pools: plan.pools,
        stages: this.options.stages ?? [],
        services: this.services,
        observer: this.observer,
        systemRoutes: this.options.systemRoutes,
      });
    } catch (err) {
      plan?.rollback();
      this.failedRevision = state.revision;
      this.lastError = { revision: state.revision, message: (err as Error).message, at: new Date().toISOString() };
      this.options.logger.error({ err, revision: state.revision }, 'configuration revision failed to compile; the previous one keeps serving');
      return;
    }
    const previous = this.current;
    this.current = next;
    plan.commit();
    this.revisionSince = new Date().toISOString();
    this.lastError = undefined;
    this.options.logger.info({ revision: state.revision, routes: state.routes.length, upstreams: state.upstreams.length }, 'configuration revision in force');
    if (previous) void previous.retire();
  }

  async close(): Promise<void> {
    this.unwatch?.();
    if (this.server) {
      const server = this.server;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    }
    await this.current?.retire();
    this.health.close();
    for (const close of this.closers.splice(0)) await Promise.resolve().then(close).catch((err) => this.options.logger.warn({ err }, 'a stage failed to close'));
    this.upstreams.close();
    await this.targets.close();
  }
}
