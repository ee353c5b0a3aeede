import type { TestContext } from 'node:test';
import { HealthChecker, type HealthCheckerOptions } from '../../gateway/src/health/active-checker.js';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Upstream } from '../../spec/upstream.js';
import { TargetRegistry } from '../../gateway/src/balancer/target-registry.js';
import { UpstreamRegistry } from '../../gateway/src/balancer/upstream-registry.js';

/** A real worker on 127.0.0.1 whose /health answers `status`, counting the probes it gets. */
export interface HealthServer {
  url: string;
  status: number;
  probes: number;
  close(): Promise<void>;
}

export async function healthServer(status = 200): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    if (req.url === '/health') me.probes++;
    res.statusCode = me.status;
    res.end(me.status === 200 ? 'ok' : 'failing');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const me: HealthServer = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    status,
    probes: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return me;
}

/** A port nothing listens on (bound, read, released). */
export async function closedPort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** An upstream spec with the schema's defaults, overridable. */
export function upstream(name: string, targets: Array<string | Partial<Upstream['targets'][number]>>, extra: Partial<Upstream> = {}): Upstream {
  return {
    name,
    algorithm: 'round-robin',
    targets: targets.map((t) => (typeof t === 'string' ? { url: t, weight: 1, backup: false } : { weight: 1, backup: false, url: '', ...t })),
    slowStartMs: 0,
    panicThreshold: 0,
    retryBudgetPercent: 20,
    ...extra,
  } as Upstream;
}

export function active(extra: Record<string, unknown> = {}) {
  return {
    type: 'http' as const,
    path: '/health',
    intervalMs: 100,
    timeoutMs: 500,
    healthyThreshold: 2,
    unhealthyThreshold: 2,
    expectedStatus: [200],
    ...extra,
  };
}

export function registries() {
  const targets = new TargetRegistry();
  const pools = new UpstreamRegistry(targets);
  return {
    targets,
    pools,
    async close() {
      pools.close();
      await targets.close();
    },
  };
}

/**
 * Registries with an active checker attached, torn down after the test together with whatever
 * `cleanup` closes (the test's servers).
 */
export function checkedRegistries(t: TestContext, options: HealthCheckerOptions, cleanup: () => Promise<void>) {
  const reg = registries();
  const checker = new HealthChecker(options).attach(reg.pools);
  t.after(async () => {
    checker.close();
    await reg.close();
    await cleanup();
  });
  return { reg, checker };
}

/** Poll until `cond` holds; resolves with the time it took, rejects after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what = 'condition'): Promise<number> {
  const started = Date.now();
  while (!cond()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
  return Date.now() - started;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
