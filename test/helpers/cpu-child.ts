import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { GATEWAY_V8_FLAGS, gatewayProcessEnv } from '../../gateway/src/runtime-flags.js';

/**
 * The gateway-in-a-child harness of the CPU-cost scripts (stage-cost, token-meter-cost,
 * tracing-cost): the gateway runs alone in a forked process with the product's V8 flags, so the
 * CPU read around a load is the gateway's and nobody else's.
 */

/** Child side: tell the parent how to reach this gateway, then answer its CPU probes and its exit. */
export function answerCpuProbes(gateway: { close(): Promise<void> }, hello: Record<string, unknown>): void {
  process.send!(hello);
  process.on('message', (m: string) => {
    if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send!({ cpu: u.user + u.system });
    } else if (m === 'exit') void gateway.close().then(() => process.exit(0));
  });
}

export interface CpuChild<Hello> {
  readonly child: ChildProcess;
  /** What the child said when its gateway was up (its URL, a key…). */
  readonly hello: Hello;
  /** The child's user + system CPU so far, µs. */
  cpu(): Promise<number>;
  exit(): void;
}

/** Parent side: fork `file` with `args` and wait for its hello. */
export async function forkCpuChild<Hello>(file: string, args: string[]): Promise<CpuChild<Hello>> {
  const child = fork(file, args, { execArgv: [...GATEWAY_V8_FLAGS], env: gatewayProcessEnv(process.env) });
  const next = () => new Promise<any>((resolve) => child.once('message', resolve));
  const hello = (await next()) as Hello;
  return {
    child,
    hello,
    cpu: async () => {
      child.send('cpu');
      return (await next()).cpu as number;
    },
    exit: () => void child.send('exit'),
  };
}

// autocannon ships no type declarations.
const autocannon = createRequire(import.meta.url)('autocannon') as (options: Record<string, unknown>) => Promise<{ non2xx: number }>;

/** One load a cost script measures: autocannon's request options (url, method, body, headers) and whose CPU it costs. */
export interface CostLoad {
  name: string;
  cpu: () => Promise<number>;
  request: Record<string, unknown>;
}

const WARM_UP_REQUESTS = 5_000;
const ROUNDS = 5;
const ROUND_REQUESTS = 10_000;

/**
 * µs of gateway CPU per request for each load, per round: every load warmed up once (5 000
 * requests), then 5 rounds of 10 000 at 16 connections, the loads interleaved within each round
 * so a burst from whoever else shares the machine falls on all of them alike. Any non-2xx answer
 * stops the measurement, naming its load.
 */
export async function cpuPerRequestRounds(loads: readonly CostLoad[]): Promise<number[][]> {
  const once = async (load: CostLoad, amount: number) => {
    const before = await load.cpu();
    const result = await autocannon({ ...load.request, connections: 16, amount });
    const used = (await load.cpu()) - before;
    if (result.non2xx) throw new Error(`${load.name}: ${result.non2xx} non-2xx answers`);
    return used / amount;
  };
  for (const load of loads) await once(load, WARM_UP_REQUESTS);
  const rounds = loads.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) for (const [i, load] of loads.entries()) rounds[i]!.push(await once(load, ROUND_REQUESTS));
  return rounds;
}

export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}
