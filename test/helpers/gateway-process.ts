import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../gateway/src/main.js', import.meta.url));

export const TEST_ADMIN = { email: 'ops@example.test', password: 'two-process-password' };

export interface GatewayProcess {
  child: ChildProcess;
  publicUrl: string;
  adminUrl: string;
  output: () => string;
  stop(): Promise<void>;
}

/** The environment an operator starts the gateway with here: the demo off, ports chosen by the OS, warnings only. */
export function operatorEnv(storeUrl: string, admin: { email: string; password: string }, env: Record<string, string>): NodeJS.ProcessEnv {
  return {
    ...process.env,
    STORE_URL: storeUrl,
    DEMO: '0',
    PORT: '0',
    HOST: '127.0.0.1',
    ADMIN_PORT: '0',
    ADMIN_EMAIL: admin.email,
    ADMIN_PASSWORD: admin.password,
    LOG_LEVEL: 'warn',
    ...env,
  };
}

/** Resolves once the start lines name the admin console (printed last); throws with the output if the process ends first. */
export async function untilStarted(child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!/admin console\s+(\S+)\//.test(output())) {
    if (child.exitCode !== null) throw new Error(`gateway exited: ${output()}`);
    if (Date.now() > deadline) throw new Error(`gateway did not start: ${output()}`);
    await sleep(50);
  }
}

/** `npm start` as an operator runs it, on `storeUrl`, with ports chosen by the OS. */
export async function startGatewayProcess(storeUrl: string, env: Record<string, string> = {}): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [MAIN], {
    // Nothing balances across these test nodes; their stop need not wait the 5 s a load balancer would.
    env: operatorEnv(storeUrl, TEST_ADMIN, { DRAIN_DELAY_MS: '0', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  await untilStarted(child, () => out, 30_000);
  return {
    child,
    publicUrl: /partner traffic\s+(\S+)/.exec(out)![1]!,
    adminUrl: /admin console\s+(\S+)\//.exec(out)![1]!,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
