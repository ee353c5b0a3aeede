import { connect, type Socket } from 'node:net';
import { isFailure, latencies, percentile, startLoop } from '../load-loop.js';
import { poolConfig, type CaseResult, type ChaosCase } from '../chaos-case.js';
import { HOST, sleep } from '../stage.js';
import { describeFailures, stagePool } from './workers.js';

const RATE = 200;
const SLOWLORIS = 500;
const IDLE = 2000;
const ATTACK_MS = 10_000;
/** As in the Redis freeze case: below ~10 ms, 2× a baseline measures the shared machine's scheduler. */
const LATENCY_FLOOR_MS = 10;

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** A keep-alive connection that made one request and then says nothing. */
async function idleConnection(port: number): Promise<Socket> {
  const socket = await open(port);
  socket.on('error', () => {});
  await new Promise<void>((resolve) => {
    socket.once('data', () => resolve());
    socket.once('close', () => resolve());
    socket.write(`GET /echo HTTP/1.1\r\nHost: ${HOST}\r\nConnection: keep-alive\r\n\r\n`);
  });
  socket.on('data', () => {});
  return socket;
}

export const slowlorisCase: ChaosCase = {
  name: 'slowloris ×500 + 2 000 idle keep-alive',
  limitMs: 90_000,
  async run(): Promise<CaseResult> {
    const stage = await stagePool('slowloris', (workers) => poolConfig(workers.map((w) => w.url)));
    const sockets: Socket[] = [];
    let dripper: NodeJS.Timeout | undefined;
    try {
      const loop = startLoop({ url: `${stage.gateway.publicUrl}/echo`, ratePerSecond: RATE });
      const baselineFrom = performance.now();
      await sleep(4000);
      const attackFrom = performance.now();
      for (let i = 0; i < IDLE; i += 100) {
        sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, IDLE - i) }, () => idleConnection(stage.gateway.port)))));
      }
      const idle = sockets.length;
      const lorises: Socket[] = [];
      for (let i = 0; i < SLOWLORIS; i += 100) {
        lorises.push(...(await Promise.all(Array.from({ length: Math.min(100, SLOWLORIS - i) }, () => open(stage.gateway.port)))));
      }
      for (const s of lorises) {
        s.on('error', () => {});
        s.on('data', () => {});
        s.write(`GET /echo HTTP/1.1\r\nHost: ${HOST}\r\nX-Slow: `);
      }
      sockets.push(...lorises);
      // One header byte per connection per second, never finishing the head.
      dripper = setInterval(() => {
        for (const s of lorises) if (!s.destroyed) s.write('a');
      }, 1000);
      // Judged only while all of them are held open: opening 2 000 keep-alive connections means
      // 2 000 requests in a burst, which is the suite's load, not the attack's.
      const heldFrom = performance.now();
      await sleep(ATTACK_MS);
      const attackTo = performance.now();
      const lorisOpen = lorises.filter((s) => !s.destroyed).length;
      const idleOpen = sockets.slice(0, idle).filter((s) => !s.destroyed).length;
      const samples = await loop.stop();
      const failures = samples.filter((s) => isFailure(s));
      const p99Base = percentile(latencies(samples, baselineFrom + 500, attackFrom), 99);
      const p99Attack = percentile(latencies(samples, heldFrom, attackTo), 99);
      const bound = 2 * Math.max(p99Base, LATENCY_FLOOR_MS / 2);
      return {
        name: this.name,
        sent: samples.length,
        failed: failures.length,
        recoveryMs: null,
        pass: failures.length === 0 && p99Attack <= bound && stage.gateway.alive(),
        goal: `loop p99 under attack ≤ 2× baseline (floor ${LATENCY_FLOOR_MS} ms), no failure`,
        detail: `p99 ${p99Base.toFixed(1)} ms before, ${p99Attack.toFixed(1)} ms with all held open (bound ${bound.toFixed(1)}; opening them took ${((heldFrom - attackFrom) / 1000).toFixed(1)} s); still open at the end: ${lorisOpen}/${SLOWLORIS} slowloris, ${idleOpen}/${idle} idle; loop failures: ${describeFailures(failures)}`,
      };
    } finally {
      clearInterval(dripper);
      for (const s of sockets) s.destroy();
      await stage.teardown();
    }
  },
};
