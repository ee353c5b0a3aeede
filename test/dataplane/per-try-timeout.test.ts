import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { request } from 'undici';
import { startEchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, waitFor } from '../helpers/gateway.js';

/** A worker in a process of its own, so SIGSTOP can freeze it as a hung GPU server freezes. */
async function processWorker(name: string): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const source = `
    const http = require('node:http');
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end(JSON.stringify({ upstream: ${JSON.stringify(name)} })));
    });
    server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));`;
  const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return {
    url: `http://127.0.0.1:${Number(line.toString().trim())}`,
    child,
    async stop() {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

test('with one of three workers frozen by SIGSTOP, idempotent requests cost a retry after perTryTimeoutMs, not an error', async (t) => {
  const workers = await Promise.all(['a', 'b', 'c'].map((n) => processWorker(n)));
  t.after(() => Promise.all(workers.map((w) => w.stop())));
  const gw = await startGateway({
    upstreams: [{ name: 'gpus', algorithm: 'round-robin', targets: workers.map((w) => ({ url: w.url })) }],
    routes: [
      { name: 'tried', methods: ['GET', 'PUT', 'POST'], paths: ['/v1/*'], upstream: 'gpus', timeoutMs: 4_000, perTryTimeoutMs: 250, retries: 1 },
      { name: 'whole', methods: ['GET'], paths: ['/whole/*'], upstream: 'gpus', timeoutMs: 700, retries: 1 },
    ],
    consumers: [],
  });
  t.after(() => gw.close());
  // Warm connections to every worker, then freeze one mid-service.
  for (let i = 0; i < 6; i++) await (await request(`${gw.url}/v1/warm`)).body.dump();
  workers[1]!.child.kill('SIGSTOP');

  // Waves of six concurrent requests: two of each wave meet the frozen worker, within the retry
  // budget's minimum of three concurrent retries (a larger burst is the budget's to refuse).
  const started = Date.now();
  const answers: { status: number; upstream: string | undefined; ms: number }[] = [];
  for (let wave = 0; wave < 4; wave++)
    answers.push(
      ...(await Promise.all(
        Array.from({ length: 6 }, async (_, k) => {
          const i = wave * 6 + k;
          const at = Date.now();
          const res = await request(`${gw.url}/v1/x${i}`, { method: i % 2 ? 'PUT' : 'GET', body: i % 2 ? 'payload' : null });
          const body = (await res.body.json()) as { upstream?: string };
          return { status: res.statusCode, upstream: body.upstream, ms: Date.now() - at };
        }),
      )),
    );
  for (const a of answers) {
    assert.equal(a.status, 200, JSON.stringify(a));
    assert.notEqual(a.upstream, 'b', 'the frozen worker answered?');
    assert.ok(a.ms < 2_500, `a request took ${a.ms} ms: the per-try timeout did not cut the frozen attempt`);
  }
  assert.ok(Date.now() - started < 8_000);

  // Without perTryTimeoutMs the frozen attempt uses the whole timeout and the client gets 504.
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await request(`${gw.url}/whole/y${i}`);
    await res.body.dump();
    statuses.push(res.statusCode);
  }
  assert.ok(statuses.includes(504), `statuses ${statuses}: the round robin should reach the frozen worker once in three`);

  // A POST is not retried on a timeout, so perTryTimeoutMs does not cut it short either.
  const post = await request(`${gw.url}/v1/post`, { method: 'POST', body: 'x', headersTimeout: 10_000 });
  await post.body.dump();
  assert.ok([200, 504].includes(post.statusCode));
});

test('a passing active check lifts a passive ejection early', async (t) => {
  const flaky = await startEchoUpstream('flaky');
  const steady = await startEchoUpstream('steady');
  let failing = true;
  flaky.handler = (req, res) => {
    if (req.url === '/health') {
      res.writeHead(failing ? 500 : 200);
      res.end();
      return true;
    }
    if (!failing) return false;
    res.writeHead(503);
    res.end('sick');
    return true;
  };
  const gw = await startGateway({
    upstreams: [
      {
        name: 'pool',
        algorithm: 'round-robin',
        targets: [{ url: flaky.url }, { url: steady.url }],
        healthCheck: {
          passive: { consecutiveFailures: 2, ejectMs: 60_000 },
          active: { path: '/health', intervalMs: 200, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 50 },
        },
      },
    ],
    routes: [{ name: 'r', methods: ['GET'], paths: ['/r/*'], upstream: 'pool', retries: 0 }],
    consumers: [],
  });
  t.after(async () => {
    await gw.close();
    await flaky.close();
    await steady.close();
  });
  const target = gw.node.upstreams.get('pool')!.members[0]!.target;
  for (let i = 0; i < 8 && target.ejectedUntil === 0; i++) await (await request(`${gw.url}/r/x`)).body.dump();
  assert.ok(target.ejectedUntil > Date.now() + 50_000, 'the flaky worker is ejected for a minute');

  failing = false;
  await waitFor(() => target.ejectedUntil <= Date.now(), 3_000, 'the ejection to be lifted by a passing probe');
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const res = await request(`${gw.url}/r/y`);
    seen.add(String(res.headers['x-upstream']));
    await res.body.dump();
  }
  assert.ok(seen.has('flaky'), 'the lifted worker takes traffic again');
});

test('a burst larger than the retry budget loses nothing to a frozen worker once passive health has ejected it', async (t) => {
  const workers = await Promise.all(['a', 'b', 'c'].map((n) => processWorker(n)));
  t.after(() => Promise.all(workers.map((w) => w.stop())));
  const gw = await startGateway({
    upstreams: [
      {
        name: 'gpus',
        algorithm: 'round-robin',
        targets: workers.map((w) => ({ url: w.url })),
        healthCheck: { passive: { consecutiveFailures: 3, ejectMs: 30_000 } },
      },
    ],
    routes: [{ name: 'tried', methods: ['GET'], paths: ['/v1/*'], upstream: 'gpus', timeoutMs: 5_000, perTryTimeoutMs: 300, retries: 1 }],
    consumers: [],
  });
  t.after(() => gw.close());
  for (let i = 0; i < 6; i++) await (await request(`${gw.url}/v1/warm`)).body.dump();
  workers[2]!.child.kill('SIGSTOP');

  // 30 at once: ten meet the frozen worker and time out together, far past the budget's three
  // concurrent retries. The first three timeouts eject the worker; a retry away from an ejected
  // target replaces load that target can no longer take, so it needs no budget token.
  const statuses = await Promise.all(
    Array.from({ length: 30 }, async (_, i) => {
      const res = await request(`${gw.url}/v1/burst${i}`);
      const body = (await res.body.json()) as { upstream?: string };
      assert.notEqual(body.upstream, 'c');
      return res.statusCode;
    }),
  );
  assert.deepEqual(
    statuses.filter((s) => s !== 200),
    [],
    `${statuses.filter((s) => s !== 200).length} of 30 failed`,
  );
});
