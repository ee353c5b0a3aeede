import { get } from 'node:http';
import { isFailure, startLoop } from '../load-loop.js';
import { poolConfig, type CaseResult, type ChaosCase } from '../chaos-case.js';
import { drippingUpstream, GiB, malformedStatusUpstream, midBodyCloseUpstream, type RawUpstream } from '../raw-upstreams.js';
import { MiB, rssBytes, sleep } from '../stage.js';
import { describeFailures, stagePool } from './workers.js';

const RATE = 200;
const CONSECUTIVE_FAILURES = 3;

/** Two good workers and one bad one in the pool; the loop runs for `ms`. */
async function underLoopWithBadTarget(name: string, bad: RawUpstream, ms: number) {
  const stage = await stagePool(name, (workers) =>
    poolConfig([workers[0]!.url, workers[1]!.url, bad.url], { passive: { consecutiveFailures: CONSECUTIVE_FAILURES, ejectMs: 60_000 } }));
  // The third simulated worker is not in this pool.
  await stage.workers[2]!.child.stop();
  try {
    const loop = startLoop({ url: `${stage.gateway.publicUrl}/echo`, ratePerSecond: RATE });
    const startedAt = performance.now();
    await sleep(ms);
    const samples = await loop.stop();
    return { samples, startedAt, alive: stage.gateway.alive() };
  } finally {
    await stage.teardown();
    await bad.close();
  }
}

export const malformedStatusCase: ChaosCase = {
  name: 'worker answers a malformed status line',
  limitMs: 40_000,
  async run(): Promise<CaseResult> {
    const { samples, startedAt, alive } = await underLoopWithBadTarget('malformed', await malformedStatusUpstream(), 6000);
    const failures = samples.filter((s) => isFailure(s));
    // Each bad answer is retried on a good worker, within the pool's retry budget (Envoy's: 20 %
    // of requests in flight, at least 3). The first burst can meet a full budget and get the
    // 502; after the third failure in a row ejects the worker (well within a second at this
    // rate) nothing may fail.
    const late = failures.filter((s) => s.startedAt > startedAt + 1000).length;
    return {
      name: this.name,
      sent: samples.length,
      failed: failures.length,
      recoveryMs: failures.length === 0 ? 0 : Math.max(...failures.map((s) => s.endedAt)) - startedAt,
      pass: late === 0 && alive,
      goal: 'bad answers retried on a good worker; only the first burst may meet a spent retry budget; nothing fails after 1 s',
      detail: `failures: ${describeFailures(failures)}; ${late} after the first second`,
    };
  },
};

export const midBodyCloseCase: ChaosCase = {
  name: 'worker closes mid-body',
  limitMs: 40_000,
  async run(): Promise<CaseResult> {
    const { samples, startedAt, alive } = await underLoopWithBadTarget('midbody', await midBodyCloseUpstream(), 6000);
    const failures = samples.filter((s) => isFailure(s));
    // A 200 the client took for complete while the worker sent 100 of 1 000 bytes would be a lie.
    const silentTruncation = failures.filter((s) => s.error === '').length;
    // Passive health ejects the worker on its third failure in a row: requests already on their
    // way to it may still be cut, but none sent after that failure may be.
    const byEnd = [...failures].sort((a, b) => a.endedAt - b.endedAt);
    const ejectedAt = byEnd.length >= CONSECUTIVE_FAILURES ? byEnd[CONSECUTIVE_FAILURES - 1]!.endedAt : Infinity;
    const late = failures.filter((s) => s.startedAt > ejectedAt).length;
    const lastFailure = failures.length === 0 ? 0 : byEnd[byEnd.length - 1]!.endedAt - startedAt;
    return {
      name: this.name,
      sent: samples.length,
      failed: failures.length,
      recoveryMs: lastFailure,
      pass: late === 0 && silentTruncation === 0 && alive,
      goal: `the client sees a cut, never a short 200; nothing sent after the ${CONSECUTIVE_FAILURES}rd cut (the ejection) fails`,
      detail: `${failures.length} cut in all (${describeFailures(failures)}), ${failures.length - late} of them already sent when the worker was ejected; ${late} after`,
    };
  },
};

/**
 * "Flat" means bounded: the peak stays under an eighth of the body above where it started, so
 * the body is not being held. Some rise is expected and is not the body: each 64 KiB read is a
 * fresh Buffer outside V8's heap that lives until V8 next collects (it collects on external
 * growth of ~64 MiB, sampled swinging 14-50 MiB), and malloc keeps freed pages for reuse; RSS
 * climbs 50-90 MiB in the first seconds and plateaus. The halves' peaks are reported, not
 * judged: a fast transfer ends its first half before the plateau (174 vs 206 MiB measured).
 */
const RSS_GROWTH_LIMIT = 128 * MiB;

export const dripCase: ChaosCase = {
  name: 'worker drips a 1 GiB body',
  limitMs: 90_000,
  async run(): Promise<CaseResult> {
    const drip = await drippingUpstream(2);
    const stage = await stagePool('drip', (workers) =>
      poolConfig(workers.map((w) => w.url), {
        upstreams: [{ name: 'drip', targets: [{ url: drip.url }] }],
        routes: [{ name: 'drip', methods: ['GET'], paths: ['/drip'], upstream: 'drip', retries: 0, timeoutMs: 120_000 }],
      }));
    try {
      const rssBefore = rssBytes(stage.gateway.pid);
      let peak = rssBefore;
      let firstHalfPeak = rssBefore;
      let secondHalfPeak = 0;
      let bytes = 0;
      const sampler = setInterval(() => {
        const rss = rssBytes(stage.gateway.pid);
        peak = Math.max(peak, rss);
        if (bytes < GiB / 2) firstHalfPeak = Math.max(firstHalfPeak, rss);
        else secondHalfPeak = Math.max(secondHalfPeak, rss);
      }, 100);
      const loop = startLoop({ url: `${stage.gateway.publicUrl}/echo`, ratePerSecond: RATE });
      const startedAt = performance.now();
      const received = await new Promise<{ bytes: number; error: string }>((resolve) => {
        const request = get(`${stage.gateway.publicUrl}/drip`, (res) => {
          res.on('data', (chunk: Buffer) => (bytes += chunk.length));
          res.once('end', () => resolve({ bytes, error: res.complete ? '' : 'cut' }));
          res.once('error', (error) => resolve({ bytes, error: error.message }));
        });
        request.once('error', (error) => resolve({ bytes, error: error.message }));
        // Bounded: at ≥ 30 MiB/s the GiB is through well within this.
        setTimeout(() => {
          request.destroy(new Error('not through in 60 s'));
        }, 60_000).unref();
      });
      const seconds = (performance.now() - startedAt) / 1000;
      clearInterval(sampler);
      const samples = await loop.stop();
      const failures = samples.filter((s) => isFailure(s));
      const growth = peak - rssBefore;
      const complete = received.bytes === GiB && received.error === '';
      return {
        name: this.name,
        sent: samples.length + 1,
        failed: failures.length + (complete ? 0 : 1),
        recoveryMs: null,
        pass: complete && growth < RSS_GROWTH_LIMIT && failures.length === 0 && stage.gateway.alive(),
        goal: `the whole GiB arrives; gateway RSS peak < start + ${RSS_GROWTH_LIMIT / MiB} MiB (an eighth of the body); the loop loses nothing`,
        detail: `${(received.bytes / MiB).toFixed(0)} MiB in ${seconds.toFixed(1)} s${received.error ? ` (${received.error})` : ''}; RSS ${(rssBefore / MiB).toFixed(0)} MiB before, peak ${(firstHalfPeak / MiB).toFixed(0)} in the first half, ${(secondHalfPeak / MiB).toFixed(0)} in the second; loop failures: ${describeFailures(failures)}`,
      };
    } finally {
      await stage.teardown();
      await drip.close();
    }
  },
};
