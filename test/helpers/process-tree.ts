import { readdirSync, readFileSync } from 'node:fs';

/** Every live descendant of `pid` (Linux /proc), so a test can tell whether an orphan is left. */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // Field 4 of /proc/PID/stat is the parent; the command name (field 2) may hold spaces, so split after ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(name)]);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of parents.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** The environment a process was started with, and its command line (Linux /proc). */
export function startedWith(pid: number): { argv: string[]; env: Record<string, string> } {
  const split = (file: string) => readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\0').filter(Boolean);
  const env: Record<string, string> = {};
  for (const pair of split('environ')) {
    const eq = pair.indexOf('=');
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { argv: split('cmdline'), env };
}

/** The Node processes below `pid` that run the gateway (npm start's, `switchboard start`'s and their workers). */
export function gatewayProcessesUnder(pid: number): Array<{ pid: number; argv: string[]; env: Record<string, string> }> {
  return descendants(pid)
    .map((p) => {
      try {
        return { pid: p, ...startedWith(p) };
      } catch {
        return undefined; // exited meanwhile
      }
    })
    .filter((p): p is { pid: number; argv: string[]; env: Record<string, string> } => p !== undefined && p.argv.some((a) => a.endsWith('dist/gateway/src/main.js') || a.endsWith('bin/switchboard.js')));
}
