import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { isFailure, startLoop } from '../load-loop.js';
import { poolConfig, type CaseResult, type ChaosCase } from '../chaos-case.js';
import { sleep, waitFor } from '../stage.js';
import { describeFailures, stagePool } from './workers.js';

const RATE = 200;

/**
 * The embedded store broken three ways in turn — garbage JSON, a directory where the file was
 * (root reads through chmod 000, so unreadable means EISDIR here), a dangling symlink — then
 * restored. The node must keep serving its last good configuration, say so in its log, refuse
 * admin writes with 503 rather than write over what it cannot read, and take writes again once
 * the file is good.
 */
export const storeCase: ChaosCase = {
  name: 'store file garbage, then unreadable, then good',
  limitMs: 60_000,
  async run(): Promise<CaseResult> {
    const stage = await stagePool('store', (workers) => poolConfig(workers.map((w) => w.url)));
    const { gateway } = stage;
    try {
      const good = readFileSync(gateway.storeFile);
      const loop = startLoop({ url: `${gateway.publicUrl}/echo`, ratePerSecond: RATE });
      await sleep(1000);
      const logBefore = gateway.output().length;
      const writes: string[] = [];
      const tryWrite = async (label: string) => {
        const answer = await gateway.admin('POST', '/routes', { name: `probe-${label}`, methods: ['GET'], paths: [`/probe-${label}`], upstream: 'pool' });
        writes.push(`${label} ${answer.status}`);
        return answer.status;
      };
      const breakages: Array<[string, () => void]> = [
        ['garbage', () => writeFileSync(gateway.storeFile, '{"format":1,"state":{ garbage \u0000\u0001')],
        ['directory', () => {
          rmSync(gateway.storeFile, { force: true });
          mkdirSync(gateway.storeFile);
        }],
        ['dangling-symlink', () => {
          rmSync(gateway.storeFile, { recursive: true, force: true });
          symlinkSync(`${gateway.storeFile}.nowhere`, gateway.storeFile);
        }],
      ];
      const refused: boolean[] = [];
      for (const [label, breakIt] of breakages) {
        breakIt();
        // Past the store's one-second poll, so the node has looked at the broken file.
        await sleep(1500);
        refused.push((await tryWrite(label)) === 503);
      }
      const log = gateway.output().slice(logBefore);
      const logged = /store/i.test(log) && /(not valid JSON|cannot read|unavailable|EISDIR)/i.test(log);
      rmSync(gateway.storeFile, { recursive: true, force: true });
      writeFileSync(gateway.storeFile, good);
      const restoredAt = performance.now();
      // Recovered: an admin write succeeds and the route it adds is served.
      const recoveredIn = await waitFor(async () => {
        const status = (await gateway.admin('POST', '/routes', { name: 'recovered', methods: ['GET'], paths: ['/recovered', '/recovered/*'], upstream: 'pool', stripPrefix: '/recovered' })).status;
        if (status !== 201 && status !== 200 && status !== 409) return false;
        const served = await fetch(`${gateway.publicUrl}/recovered/echo`).then((r) => r.status, () => 0);
        return served === 200;
      }, 15_000, 250);
      const recoveryMs = recoveredIn === undefined ? null : performance.now() - restoredAt;
      await sleep(500);
      const samples = await loop.stop();
      const failures = samples.filter((s) => isFailure(s));
      return {
        name: this.name,
        sent: samples.length,
        failed: failures.length,
        recoveryMs,
        pass: failures.length === 0 && refused.every(Boolean) && logged && recoveryMs !== null && gateway.alive(),
        goal: 'keeps serving; a log line names the store; admin writes 503 while broken; writes work again after the fix',
        detail: `admin writes while broken: ${writes.join(', ')}; log line ${logged ? 'present' : 'MISSING'}; loop failures: ${describeFailures(failures)}; recovered ${recoveryMs === null ? 'never' : `in ${Math.round(recoveryMs)} ms`}`,
      };
    } finally {
      await stage.teardown();
    }
  },
};

export const configChurnCase: ChaosCase = {
  name: '50 configuration changes in 10 s',
  limitMs: 60_000,
  async run(): Promise<CaseResult> {
    let targets: string[] = [];
    const stage = await stagePool('churn', (workers) => poolConfig((targets = workers.map((w) => w.url))));
    const { gateway } = stage;
    try {
      const loop = startLoop({ url: `${gateway.publicUrl}/echo`, ratePerSecond: RATE });
      await sleep(1000);
      // One change every 200 ms, each sent when the previous one is answered, as one operator's
      // tool would: concurrent PUTs only queue on the store's lock (measured: more time-outs,
      // not more changes). A machine too slow to answer in 200 ms stretches the churn past 10 s,
      // and the row says so.
      const pending: Array<Promise<number>> = [];
      let outstanding = 0;
      const refusals: string[] = [];
      const startedAt = Date.now();
      for (let i = 0; i < 50; i++) {
        const due = startedAt + i * 200;
        if (Date.now() < due) await sleep(due - Date.now());
        while (outstanding >= 1) await sleep(5);
        // Each change touches the pool (weights, order) and the routes, so every one is a new
        // generation with new pools, not a no-op the node could skip.
        const config = poolConfig(i % 2 === 0 ? targets : [...targets].reverse(), {
          weights: targets.map((_, t) => 1 + ((i + t) % 3)),
          route: { idleTimeoutMs: 30_000 + i },
          routes: i % 3 === 0 ? [] : [{ name: `extra-${i}`, methods: ['GET'], paths: [`/extra-${i}`], upstream: 'pool' }],
        });
        outstanding += 1;
        pending.push(gateway.putConfig(config).then((r) => (r.status !== 200 && refusals.push(`${r.status} ${r.body?.type ?? ''} ${r.body?.detail ?? ''}`.trim()), r.status), () => 0).finally(() => (outstanding -= 1)));
      }
      const sentInMs = Date.now() - startedAt;
      const statuses = await Promise.all(pending);
      const tookMs = Date.now() - startedAt;
      await sleep(1500);
      const samples = await loop.stop();
      const failures = samples.filter((s) => isFailure(s));
      const refused = statuses.filter((s) => s !== 200).length;
      return {
        name: this.name,
        sent: samples.length,
        failed: failures.length,
        recoveryMs: null,
        pass: failures.length === 0 && refused === 0 && sentInMs <= 10_500 && gateway.alive(),
        goal: 'zero failed requests; every change saved',
        detail: `50 PUT /config sent in ${(sentInMs / 1000).toFixed(1)} s, all answered in ${(tookMs / 1000).toFixed(1)} s, ${refused} refused${refusals.length ? ` (${[...new Set(refusals)].join('; ')})` : ''}; loop failures: ${describeFailures(failures)}`,
      };
    } finally {
      await stage.teardown();
    }
  },
};
