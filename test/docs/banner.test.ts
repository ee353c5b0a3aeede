import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

const root = new URL('../../../', import.meta.url).pathname;

/** Whether nothing listens on 127.0.0.1:port right now. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Three consecutive free ports for the demo workers (DEMO_WORKER_BASE_PORT takes a base). */
async function freeRunOfThree(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await isFree(base)) && (await isFree(base + 1)) && (await isFree(base + 2))) return base;
  }
  throw new Error('no three consecutive free ports');
}

test('npm start on an empty store prints only URLs that answer, and a curl line that works as printed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-banner-'));
  const child = spawn('npm', ['start'], {
    cwd: root,
    // Its own process group, so that whatever npm starts is stopped with it.
    detached: true,
    env: {
      ...process.env,
      STORE_URL: `file:${join(dir, 'switchboard.json')}`,
      PORT: '0',
      HOST: '127.0.0.1',
      ADMIN_PORT: '0',
      DEMO_WORKER_BASE_PORT: String(await freeRunOfThree()),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  t.after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      process.kill(-child.pid!, 'SIGTERM');
      await Promise.race([exited, sleep(20_000)]);
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  });

  const deadline = Date.now() + 60_000;
  while (!/Try it:\n[\s\S]*-d '.*'\n/.test(out)) {
    if (child.exitCode !== null) assert.fail(`npm start exited: ${out}`);
    if (Date.now() > deadline) assert.fail(`no banner within 60 s: ${out}`);
    await sleep(50);
  }
  const banner = out.slice(out.indexOf('Switchboard is running'));
  assert.match(banner, /partner docs\s+http:\/\/127\.0\.0\.1:\d+\/docs/, 'the docs portal is in the banner');

  // The curl line, run as printed (its backslash continuation included), streams an answer.
  const curl = /(curl -s [^\n]*\\\n[^\n]*)\n/.exec(banner)![1]!;
  const answer = await new Promise<string>((resolve, reject) =>
    execFile('sh', ['-c', curl], { timeout: 30_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  assert.match(answer, /^data: /m, 'a streamed completion');
  assert.match(answer, /data: \[DONE\]/);

  const urls = [...new Set([...banner.matchAll(/https?:\/\/[^\s'"]+/g)].map((m) => m[0]))];
  assert.ok(urls.length >= 6, `expected the listeners, docs, console, API and metrics: ${urls.join(' ')}`);
  const inference = urls.filter((u) => u.endsWith('/v1/chat/completions'));
  assert.equal(inference.length, 1, 'the curl target, checked above');
  for (const url of urls) {
    if (inference.includes(url)) continue;
    const response = await fetch(url, { redirect: 'manual' });
    await response.arrayBuffer();
    assert.ok(
      (response.status >= 200 && response.status < 400) || response.status === 401,
      `${url} answers ${response.status}: the banner must print only URLs that answer`,
    );
  }
});
