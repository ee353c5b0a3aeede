import { spawn } from 'node:child_process';
import { hostPort, type Probe, type ProbeConfig, type ProbeResult } from './probe.js';

export const PING_MISSING = 'icmp check needs the system ping (apt-get install iputils-ping)';

/**
 * ICMP echo through the system `ping -c 1 -W <s> host`. Raw ICMP sockets need privileges
 * Node does not have; the system ping carries them (setuid or cap_net_raw), so shelling out is
 * the portable way. A missing or forbidden ping is reported in the check's detail, never thrown:
 * the target is then judged down by this check, which the operator sees at once.
 *
 * `command` is only there so tests can point at a ping that does not exist.
 */
export function createIcmpProbe(origin: string, config: ProbeConfig, command = 'ping'): Probe {
  const { host } = hostPort(origin);
  // iputils and busybox both take whole seconds for -W; round up so a short timeout still waits.
  const waitSeconds = String(Math.max(1, Math.ceil(config.timeoutMs / 1000)));
  return {
    run(): Promise<ProbeResult> {
      const started = performance.now();
      return new Promise((resolve) => {
        let settled = false;
        let output = '';
        let timer: NodeJS.Timeout | undefined;
        const finish = (ok: boolean, detail: string, latencyMs?: number) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ ok, latencyMs: latencyMs ?? performance.now() - started, detail });
        };
        let child: ReturnType<typeof spawn>;
        try {
          child = spawn(command, ['-n', '-c', '1', '-W', waitSeconds, host], {
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, LC_ALL: 'C' },
          });
        } catch (err) {
          finish(false, spawnFailure(err));
          return;
        }
        // ping's own -W bounds the wait; this guard only catches a ping that hangs on DNS.
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          finish(false, `timeout after ${config.timeoutMs} ms`);
        }, Math.max(config.timeoutMs, 1000) + 500);
        child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
        child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
        child.once('error', (err) => finish(false, spawnFailure(err)));
        child.once('close', (code) => {
          if (code === 0) {
            const rtt = /time[=<]\s*([\d.]+)\s*ms/.exec(output);
            finish(true, `echo reply from ${host}`, rtt ? Number(rtt[1]) : undefined);
          } else {
            const why = output.trim().split('\n').filter(Boolean).pop() ?? '';
            finish(false, /not permitted|permission denied/i.test(output)
              ? `ping is not permitted here (needs cap_net_raw): ${why}`
              : `no echo reply from ${host}${why ? ` (${why})` : ''}`);
          }
        });
      });
    },
    close(): void {},
  };
}

function spawnFailure(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === 'ENOENT') return PING_MISSING;
  if (code === 'EACCES' || code === 'EPERM') return `the system ping cannot be run (${code}); ${PING_MISSING}`;
  return `ping failed to start: ${(err as Error).message ?? String(err)}`;
}
