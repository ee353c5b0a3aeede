import { connect } from 'node:net';
import { describeError, hostPort, type Probe, type ProbeConfig, type ProbeResult } from './probe.js';

/**
 * TCP connect to the target's port; up when the handshake completes within `timeoutMs`. For
 * workers without an HTTP health endpoint: it proves the process listens, not that it serves.
 */
export function createTcpProbe(origin: string, config: ProbeConfig): Probe {
  const { host, port } = hostPort(origin);
  return {
    run(): Promise<ProbeResult> {
      const started = performance.now();
      return new Promise((resolve) => {
        const socket = connect({ host, port });
        let settled = false;
        const finish = (ok: boolean, detail: string) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          socket.destroy();
          resolve({ ok, latencyMs: performance.now() - started, detail });
        };
        const timer = setTimeout(() => finish(false, `timeout after ${config.timeoutMs} ms`), config.timeoutMs);
        socket.once('connect', () => finish(true, `connected to ${host}:${port}`));
        socket.once('error', (err) => finish(false, describeError(err)));
      });
    },
    close(): void {},
  };
}
