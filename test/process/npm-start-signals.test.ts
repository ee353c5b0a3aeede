import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { accepts, startGateway } from '../lifecycle/lifecycle-harness.js';

/** Every live descendant of `pid` (Linux /proc), so the test can tell whether an orphan is left. */
function descendants(pid: number): number[] {
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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie has exited; it only waits for its parent to collect it.
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} to the npm start process stops the gateway itself: no orphan keeps the port`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-npm-start-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const { child: npm, port, exited } = await startGateway('npm', `file:${join(dir, 'store.json')}`);
    const orphans: number[] = [];
    t.after(() => {
      for (const pid of orphans) if (alive(pid)) process.kill(pid, 'SIGKILL');
    });
    const tree = descendants(npm.pid!);
    orphans.push(...tree);
    assert.ok(tree.length > 0, 'npm runs the gateway as a child');
    assert.ok(await accepts(port), 'the gateway serves');

    npm.kill(signal);
    const code = await Promise.race([exited, sleep(35_000).then(() => 'still running' as const)]);
    assert.notEqual(code, 'still running', `npm start did not end on ${signal}`);
    // main.ts drains and exits well within its 30 s force-exit; allow that plus start-up slack.
    const gone = Date.now() + 35_000;
    while ((tree.some(alive) || (await accepts(port))) && Date.now() < gone) await sleep(100);
    assert.deepEqual(tree.filter(alive), [], `every process npm started has exited (${tree.join(', ')})`);
    assert.equal(await accepts(port), false, `nothing listens on ${port} any more`);
  });
}
