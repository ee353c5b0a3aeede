import { Client } from 'undici';
import { tlsConnectOptions } from '../balancer/target-registry.js';
import { describeError, type Probe, type ProbeConfig, type ProbeResult } from './probe.js';

/**
 * HTTP GET of `path` on the target; up when the status is one of `expectedStatus`.
 *
 * The probe has its own single-connection undici Client instead of borrowing the target's
 * traffic Pool: a probe that times out is aborted, which destroys its socket, and that must
 * not be one of the keep-alive sockets carrying users' streams; a probe must not wait behind
 * the traffic it is judging; and the verdict should say whether the worker answers, not
 * whether an old pooled socket still happens to be open. One idle keep-alive socket per
 * target is the whole cost (Envoy keeps a separate health-check connection the same way).
 */
export function createHttpProbe(origin: string, config: ProbeConfig): Probe {
  const client = new Client(origin, {
    connect: { timeout: config.timeoutMs, ...tlsConnectOptions(config.tls) },
    headersTimeout: config.timeoutMs,
    bodyTimeout: config.timeoutMs,
    pipelining: 1,
    keepAliveTimeout: 60_000,
  });
  const expected = new Set(config.expectedStatus);
  return {
    async run(): Promise<ProbeResult> {
      const started = performance.now();
      const signal = AbortSignal.timeout(config.timeoutMs);
      try {
        const res = await client.request({
          method: 'GET',
          path: config.path,
          headers: { 'user-agent': 'switchboard-health/1', accept: '*/*' },
          signal,
        });
        // Read the body out so the connection can be reused for the next probe.
        await res.body.dump({ signal, limit: 64 * 1024 });
        const latencyMs = performance.now() - started;
        const ok = expected.has(res.statusCode);
        const detail = ok
          ? `HTTP ${res.statusCode}`
          : `HTTP ${res.statusCode} (expected ${[...expected].join(', ')})`;
        return { ok, latencyMs, detail };
      } catch (err) {
        const latencyMs = performance.now() - started;
        const timedOut = signal.aborted || (err as { code?: string }).code?.includes('TIMEOUT');
        const detail = timedOut ? `timeout after ${config.timeoutMs} ms` : describeError(err);
        return { ok: false, latencyMs, detail };
      }
    },
    close(): void {
      client.destroy().catch(() => {});
    },
  };
}
