import { TargetRegistry } from '../balancer/target-registry.js';
import { UpstreamRegistry } from '../balancer/upstream-registry.js';
import { clientIpResolver } from '../generation/client-address.js';
import { dryCompiler, type DryCompile } from '../generation/dry-compile.js';
import type { RouteStage, StageServices } from '../generation/route-stage.js';
import { createLogger } from '../logger.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { ConfigStore } from '../store/port.js';

/**
 * A dry compile for a process that runs no node (`switchboard import`): the node's stages over
 * services of its own — memory rate-limit counters (no Redis is dialled), no access log, a
 * silent logger — so the check needs nothing but the store. Run `fn`, then close what the
 * stages opened.
 */
export async function withOfflineCompiler<T>(store: ConfigStore, stages: readonly RouteStage[], fn: (compiles: DryCompile) => Promise<T>): Promise<T> {
  const closers: Array<() => void | Promise<void>> = [];
  const services: StageServices = {
    logger: createLogger('silent'),
    store,
    metrics: new GatewayMetrics(new UpstreamRegistry(new TargetRegistry())),
    redisUrl: undefined,
    shared: new Map(),
    clientIp: clientIpResolver(undefined),
    accessLog: undefined,
    onClose: (close) => void closers.push(close),
  };
  try {
    return await fn(dryCompiler({ stages, services, observer: undefined }));
  } finally {
    for (const close of closers.splice(0)) await Promise.resolve().then(close).catch(() => {});
  }
}
