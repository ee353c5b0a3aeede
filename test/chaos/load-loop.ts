import { Agent, request } from 'node:http';

/**
 * The steady client every case runs under: idempotent GETs at a fixed rate with at most
 * `maxInFlight` outstanding, on keep-alive connections as a partner's SDK would hold them.
 * Every request is recorded with its start and end, so a case can tell failures that were in
 * flight when it broke something from failures that started afterwards.
 */

export interface Sample {
  startedAt: number;
  endedAt: number;
  status: number;
  /** Empty when the request completed; else what went wrong (a reset, a cut body, a timeout). */
  error: string;
  /** The worker that answered (x-worker from the simulator), when there was one. */
  worker: string;
}

export interface LoopOptions {
  url: string;
  ratePerSecond: number;
  maxInFlight?: number;
  headers?: Record<string, string>;
  /** The statuses that count as success; 200 by default. */
  okStatuses?: number[];
  timeoutMs?: number;
}

export interface Loop {
  samples: Sample[];
  /** Requests the loop could not send because `maxInFlight` were outstanding. */
  skipped(): number;
  stop(): Promise<Sample[]>;
}

export function isFailure(sample: Sample, okStatuses: number[] = [200]): boolean {
  return sample.error !== '' || !okStatuses.includes(sample.status);
}

export function startLoop(options: LoopOptions): Loop {
  const url = new URL(options.url);
  const maxInFlight = options.maxInFlight ?? 32;
  const agent = new Agent({ keepAlive: true, maxSockets: maxInFlight });
  const samples: Sample[] = [];
  const pending = new Set<Promise<void>>();
  let skipped = 0;
  let stopped = false;

  const once = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const sample: Sample = { startedAt: performance.now(), endedAt: 0, status: 0, error: '', worker: '' };
      const finish = (error: string) => {
        if (sample.endedAt !== 0) return;
        sample.endedAt = performance.now();
        sample.error = error;
        samples.push(sample);
        resolve();
      };
      const req = request(
        { host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'GET', agent, headers: options.headers, timeout: options.timeoutMs ?? 15_000 },
        (res) => {
          sample.status = res.statusCode ?? 0;
          sample.worker = String(res.headers['x-worker'] ?? '');
          res.on('data', () => {});
          res.once('end', () => finish(res.complete ? '' : 'body cut'));
          res.once('aborted', () => finish('body cut'));
          res.once('error', (error) => finish(`body: ${error.message}`));
          res.once('close', () => finish(res.complete ? '' : 'body cut'));
        },
      );
      req.once('timeout', () => req.destroy(new Error('client timeout')));
      req.once('error', (error) => finish((error as NodeJS.ErrnoException).code ?? error.message));
      req.end();
    });

  // Ticks every 10 ms and sends what the rate owes since the start, so timer lateness under
  // load does not lower the rate.
  const startedAt = performance.now();
  let sent = 0;
  const timer = setInterval(() => {
    if (stopped) return;
    const owed = Math.floor(((performance.now() - startedAt) / 1000) * options.ratePerSecond) - sent;
    for (let i = 0; i < owed; i++) {
      sent += 1;
      if (pending.size >= maxInFlight) {
        skipped += 1;
        continue;
      }
      const p = once().finally(() => pending.delete(p));
      pending.add(p);
    }
  }, 10);

  return {
    samples,
    skipped: () => skipped,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await Promise.all(pending);
      agent.destroy();
      return samples;
    },
  };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function latencies(samples: Sample[], from = -Infinity, to = Infinity): number[] {
  return samples.filter((s) => s.startedAt >= from && s.startedAt < to && s.error === '').map((s) => s.endedAt - s.startedAt);
}
