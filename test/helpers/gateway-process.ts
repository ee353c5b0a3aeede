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

/** `npm start` as an operator runs it, on `storeUrl`, with ports chosen by the OS. */
export async function startGatewayProcess(storeUrl: string, env: Record<string, string> = {}): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      STORE_URL: storeUrl,
      DEMO: '0',
      PORT: '0',
      HOST: '127.0.0.1',
      ADMIN_PORT: '0',
      ADMIN_EMAIL: TEST_ADMIN.email,
      ADMIN_PASSWORD: TEST_ADMIN.password,
      LOG_LEVEL: 'warn',
      // Nothing balances across these test nodes; their stop need not wait the 5 s a load balancer would.
      DRAIN_DELAY_MS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 30_000;
  while (!/admin console\s+(\S+)\//.test(out)) {
    if (child.exitCode !== null) throw new Error(`gateway exited: ${out}`);
    if (Date.now() > deadline) throw new Error(`gateway did not start: ${out}`);
    await sleep(50);
  }
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
