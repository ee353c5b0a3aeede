import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GATEWAY_GLIBC_TUNABLES } from '../../gateway/src/runtime-flags.js';
import { descendants, gatewayProcessesUnder } from '../helpers/process-tree.js';
import { accepts, startGateway } from '../lifecycle/lifecycle-harness.js';

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
    const gateways = gatewayProcessesUnder(npm.pid!);
    assert.equal(gateways.length, 1, 'one gateway process');
    // runtime-flags.ts: glibc's malloc with a fixed mmap threshold, set before the process starts.
    assert.equal(gateways[0]!.env.GLIBC_TUNABLES, GATEWAY_GLIBC_TUNABLES);

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

test("npm start keeps an operator's own GLIBC_TUNABLES", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-npm-start-'));
  const own = 'glibc.malloc.arena_max=2';
  const { child: npm, exited } = await startGateway('npm', `file:${join(dir, 'store.json')}`, { GLIBC_TUNABLES: own, DRAIN_DELAY_MS: '0' });
  t.after(async () => {
    npm.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  });
  assert.deepEqual(gatewayProcessesUnder(npm.pid!).map((g) => g.env.GLIBC_TUNABLES), [own]);
});
