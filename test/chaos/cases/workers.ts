import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFailure, startLoop, type Sample } from '../load-loop.js';
import { poolConfig, routeHasPerTryTimeout, type CaseResult, type ChaosCase } from '../chaos-case.js';
import { sleep, startGateway, startWorkers, workDir, type Gateway, type Worker } from '../stage.js';

/** The steady loop's rate: enough that every target sees several requests per second. */
const RATE = 200;

async function stagePool(name: string, config: (workers: Worker[]) => unknown) {
  const work = workDir(name);
  const workers = await startWorkers(3);
  let gateway: Gateway | undefined;
  try {
    gateway = await startGateway(work.dir);
    const saved = await gateway.putConfig(config(workers));
    if (saved.status !== 200) throw new Error(`PUT /config answered ${saved.status}: ${JSON.stringify(saved.body)}`);
    // The node picks the revision up from the store's watch.
    await sleep(1500);
  } catch (error) {
    await Promise.all(workers.map((w) => w.child.stop()));
    work.remove();
    throw error;
  }
  const g = gateway;
  return {
    gateway: g,
    workers,
    async teardown() {
      // CHAOS_DEBUG=1 keeps the gateway's log (ACCESS_LOG=1 is passed through to it).
      if (process.env.CHAOS_DEBUG) writeFileSync(join(tmpdir(), `chaos-${name}-gateway.log`), g.output());
      await g.stop();
      await Promise.all(workers.map((w) => w.child.stop()));
      work.remove();
    },
  };
}

function inFlightAt(samples: Sample[], at: number): Sample[] {
  return samples.filter((s) => s.startedAt <= at && s.endedAt >= at);
}

function describeFailures(failures: Sample[]): string {
  if (process.env.CHAOS_DEBUG) for (const f of failures) process.stderr.write(`  failed: ${JSON.stringify(f)}\n`);
  const kinds = new Map<string, number>();
  for (const f of failures) {
    const kind = f.error || String(f.status);
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return [...kinds].map(([kind, n]) => `${n}× ${kind}`).join(', ') || 'none';
}

export const killWorkerCase: ChaosCase = {
  name: 'kill -9 one worker',
  limitMs: 60_000,
  async run(): Promise<CaseResult> {
    const stage = await stagePool('kill', (workers) => poolConfig(workers.map((w) => w.url)));
    try {
      const loop = startLoop({ url: `${stage.gateway.publicUrl}/echo`, ratePerSecond: RATE });
      await sleep(2000);
      const victim = stage.workers[0]!;
      process.kill(victim.child.pid, 'SIGKILL');
      const killedAt = performance.now();
      await sleep(6000);
      const samples = await loop.stop();
      const failures = samples.filter((s) => isFailure(s));
      const inFlight = new Set(inFlightAt(samples, killedAt));
      const afterwards = failures.filter((s) => !inFlight.has(s));
      const lastFailure = Math.max(killedAt, ...failures.map((s) => s.endedAt));
      return {
        name: this.name,
        sent: samples.length,
        failed: failures.length,
        recoveryMs: failures.length === 0 ? 0 : lastFailure - killedAt,
        pass: afterwards.length === 0 && stage.gateway.alive(),
        goal: 'no failure but the requests in flight on the killed worker',
        detail: `${failures.length - afterwards.length} of ${inFlight.size} in flight at the kill failed; after it: ${describeFailures(afterwards)}`,
      };
    } finally {
      await stage.teardown();
    }
  },
};

const FREEZE_MS = 10_000;
const PER_TRY_TIMEOUT_MS = 500;

export const freezeWorkerCase: ChaosCase = {
  name: 'SIGSTOP one worker 10 s, then SIGCONT',
  limitMs: 60_000,
  async run(): Promise<CaseResult> {
    const perTry = await routeHasPerTryTimeout();
    const stage = await stagePool('freeze', (workers) =>
      poolConfig(workers.map((w) => w.url), {
        // A frozen worker must cost a retry, not an error: each try gets 500 ms, the whole
        // request 5 s. Active checks every second bring the worker back once it answers.
        route: perTry ? { perTryTimeoutMs: PER_TRY_TIMEOUT_MS } : {},
        passive: { consecutiveFailures: 3, ejectMs: 2000, maxEjectMs: 10_000 },
        active: { type: 'http', path: '/health', intervalMs: 1000, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 2 },
      }));
    try {
      const loop = startLoop({ url: `${stage.gateway.publicUrl}/echo`, ratePerSecond: RATE });
      await sleep(2000);
      const victim = stage.workers[0]!;
      const victimName = 'w1';
      process.kill(victim.child.pid, 'SIGSTOP');
      const frozenAt = performance.now();
      await sleep(FREEZE_MS);
      process.kill(victim.child.pid, 'SIGCONT');
      const thawedAt = performance.now();
      await sleep(6000);
      const samples = await loop.stop();
      const failures = samples.filter((s) => isFailure(s));
      const back = samples.filter((s) => s.startedAt > thawedAt && s.worker === victimName).map((s) => s.endedAt);
      const returnedMs = back.length === 0 ? null : Math.min(...back) - thawedAt;
      const duringFreeze = failures.filter((s) => s.startedAt >= frozenAt && s.startedAt < thawedAt).length;
      // Requests already waiting on the frozen worker each time out after perTryTimeoutMs and
      // want a retry at the same moment; the pool's retry budget (20 % of requests in flight,
      // at least 3, as Envoy's) refuses some of them a 504. Once passive health has ejected the
      // worker (three timeouts, about one per-try timeout after the freeze), nothing may fail.
      const late = failures.filter((s) => s.startedAt > frozenAt + PER_TRY_TIMEOUT_MS + 500).length;
      const worst = Math.max(0, ...samples.filter((s) => !isFailure(s)).map((s) => s.endedAt - s.startedAt));
      return {
        name: this.name,
        sent: samples.length,
        failed: failures.length,
        recoveryMs: returnedMs,
        pass: perTry && late === 0 && returnedMs !== null && stage.gateway.alive(),
        goal: `none sent after the ejection fails (≤ ${PER_TRY_TIMEOUT_MS + 500} ms after the freeze); those already on the frozen worker only when the retry budget is spent; the worker serves again after SIGCONT`,
        detail: `${perTry ? '' : 'spec/route.ts has no perTryTimeoutMs yet; '}failures ${describeFailures(failures)} (${duringFreeze} started during the freeze, ${late} after the ejection); slowest success ${Math.round(worst)} ms; worker back ${returnedMs === null ? 'never' : `${Math.round(returnedMs)} ms`} after SIGCONT`,
      };
    } finally {
      // A frozen child would ignore SIGTERM until continued.
      for (const w of stage.workers) {
        try {
          process.kill(w.child.pid, 'SIGCONT');
        } catch {
          // already gone
        }
      }
      await stage.teardown();
    }
  },
};

export { stagePool, describeFailures, inFlightAt };
