import { fork, type ChildProcess } from 'node:child_process';
import { GATEWAY_V8_FLAGS } from '../../gateway/src/runtime-flags.js';

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
  const child = fork(file, args, { execArgv: [...GATEWAY_V8_FLAGS] });
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

export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}
