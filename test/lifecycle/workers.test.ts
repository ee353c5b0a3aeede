import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import { openStore } from '../../gateway/src/store/open-store.js';
import { ADMIN, get, seedStore, startGateway, type Answer, type Started } from './lifecycle-harness.js';

const PROBE_INTERVAL_MS = 200;

/** A request on one kept-alive connection: a connection stays with the worker that accepted it. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function on(agent: Agent, url: string, init: { method?: string; body?: string; token?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...init.headers };
    if (init.body) headers['content-type'] = 'application/json';
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    const req = request(url, { agent, method: init.method ?? 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer in 10 s: ${init.method ?? 'GET'} ${url}`)));
    req.end(init.body);
  });
}

/** One kept-alive connection per worker, found by opening connections until each pid has answered. */
async function connectionPerWorker(publicUrl: string, workers: number): Promise<Map<number, Agent>> {
  const byPid = new Map<number, Agent>();
  for (let i = 0; i < 40 && byPid.size < workers; i++) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const { pid } = JSON.parse((await on(agent, `${publicUrl}/livez`)).body) as { pid: number };
    if (byPid.has(pid)) agent.destroy();
    else byPid.set(pid, agent);
  }
  return byPid;
}

/** What a test leaves behind — its gateway, agents, upstream and directory — ended after it, passed or not. */
function cleanUpAfter(t: TestContext, upstream: Server, dir: string): { gateway: Started | undefined; agents: Agent[] } {
  const left: { gateway: Started | undefined; agents: Agent[] } = { gateway: undefined, agents: [] };
  t.after(async () => {
    for (const a of left.agents) a.destroy();
    if (left.gateway && left.gateway.child.exitCode === null) left.gateway.child.kill('SIGKILL');
    upstream.close();
    upstream.closeAllConnections();
    await rm(dir, { recursive: true, force: true });
  });
  return left;
}

async function metric(adminUrl: string, series: string): Promise<number> {
  const text = (await get(`${adminUrl}/metrics`)).body;
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(series + ' ')) sum += Number(line.slice(series.length + 1));
  return sum;
}

test('WORKERS=2: requests land on both processes, a config change reaches both within 2 s, one prober serves both, /metrics counts the sum (promtool passes), a killed worker is replaced — worker 1 too, admin port and prober included', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-workers-'));
  let probes = 0;
  let healthy = true;
  const upstream = createServer((req, res) => {
    if (req.url === '/health') {
      probes++;
      res.statusCode = healthy ? 200 : 503;
      return res.end();
    }
    res.setHeader('content-type', 'application/json');
    res.end('{"answer":"from the upstream"}');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const storeUrl = `file:${join(dir, 'store.json')}`;
  await seedStore(storeUrl, [upstreamUrl], PROBE_INTERVAL_MS);
  const left = cleanUpAfter(t, upstream, dir);
  const agents = left.agents;
  // A fixed admin port: worker 1, which holds it, is replaced below and must listen on it again.
  const adminPort = await freePort();
  const gateway = (left.gateway = await startGateway('node', storeUrl, { WORKERS: '2', DRAIN_DELAY_MS: '0', ADMIN_PORT: String(adminPort) }));
  const printed = /workers\s+2 processes \(pids (\d+), (\d+)\)/.exec(gateway.output());
  assert.ok(printed, `the start lines name both workers: ${gateway.output()}`);

  // Both serve: connections are spread over the two processes.
  const byPid = await connectionPerWorker(gateway.publicUrl, 2);
  agents.push(...byPid.values());
  assert.deepEqual([...byPid.keys()].sort(), [Number(printed[1]), Number(printed[2])].sort(), 'both printed workers answer on the one port');

  // One prober: over 3 s, the upstream sees one worker's probes, not two.
  const probesBefore = probes;
  await sleep(3_000);
  const probed = probes - probesBefore;
  assert.ok(probed >= 8 && probed <= 20, `${probed} probes in 3 s at ${PROBE_INTERVAL_MS} ms (one prober ≈ 15, two ≈ 30)`);

  // The prober's verdict is every worker's: an unhealthy upstream is out on both, then back on both.
  healthy = false;
  for (const [pid, agent] of byPid) {
    const deadline = Date.now() + 3_000;
    let status = 0;
    while ((status = (await on(agent, `${gateway.publicUrl}/v1/ping`)).status) !== 503 && Date.now() < deadline) await sleep(50);
    assert.equal(status, 503, `worker ${pid} stops sending to a target the prober found unhealthy`);
  }
  healthy = true;
  for (const [pid, agent] of byPid) {
    const deadline = Date.now() + 3_000;
    let status = 0;
    while ((status = (await on(agent, `${gateway.publicUrl}/v1/ping`)).status) !== 200 && Date.now() < deadline) await sleep(50);
    assert.equal(status, 200, `worker ${pid} sends again once the prober found the target healthy`);
  }

  // A change through the admin API (worker 1) is in force on both within 2 s.
  const login = await on(agents[0]!, `${gateway.adminUrl}/api/v1/auth/login`, { method: 'POST', body: JSON.stringify(ADMIN) });
  const token = (JSON.parse(login.body) as { token: string }).token;
  const created = await on(agents[0]!, `${gateway.adminUrl}/api/v1/routes`, { method: 'POST', token, body: JSON.stringify({ name: 'fresh', paths: ['/fresh'], upstream: 'gpus' }) });
  assert.equal(created.status, 201, created.body);
  const committedAt = Date.now();
  for (const [pid, agent] of byPid) {
    let status = 0;
    while ((status = (await on(agent, `${gateway.publicUrl}/fresh`)).status) !== 200 && Date.now() - committedAt < 5_000) await sleep(20);
    assert.equal(status, 200, `worker ${pid} serves the new route`);
  }
  const elapsed = Date.now() - committedAt;
  assert.ok(elapsed <= 2_000, `both workers serve the change ${elapsed} ms after the commit`);

  // /metrics on the admin port is the node's: the sum of both workers' counts.
  const routeSeries = 'switchboard_requests_total{route="fresh",status="200"}';
  const before = await metric(gateway.adminUrl, routeSeries);
  const perWorker = 10;
  for (const agent of byPid.values()) for (let i = 0; i < perWorker; i++) assert.equal((await on(agent, `${gateway.publicUrl}/fresh`)).status, 200);
  assert.equal((await metric(gateway.adminUrl, routeSeries)) - before, perWorker * 2, 'requests answered by either worker are counted once each');
  const scrape = (await get(`${gateway.adminUrl}/metrics`)).body;
  assert.match(scrape, /^process_resident_memory_bytes\{worker="1"\} \d+/m, 'gauges are per worker');
  assert.match(scrape, /^process_resident_memory_bytes\{worker="2"\} \d+/m);
  assert.match(scrape, /^switchboard_workers 2$/m);
  const file = join(dir, 'metrics.txt');
  await writeFile(file, scrape);
  const checked = await promisify(execFile)('sh', ['-c', `promtool check metrics < ${file}`]).then(
    () => 'ok',
    (err: { stdout?: string; stderr?: string }) => `${err.stdout}${err.stderr}`,
  );
  assert.equal(checked, 'ok', 'promtool check metrics passes on the merged scrape');

  // SIGKILL worker 2: only its connections are lost; a replacement serves on the same port.
  let victim = 0;
  for (const agent of byPid.values()) {
    const { worker, pid } = JSON.parse((await on(agent, `${gateway.publicUrl}/livez`)).body) as { worker: number; pid: number };
    if (worker === 2) victim = pid;
  }
  assert.ok(victim > 0, 'worker 2 answered /livez with its slot');
  process.kill(victim, 'SIGKILL');
  const killedAt = Date.now();
  const lost: string[] = [];
  let replacement: number | undefined;
  while (replacement === undefined && Date.now() - killedAt < 20_000) {
    const sentAt = Date.now() - killedAt;
    const answer = await get(`${gateway.publicUrl}/livez`).catch((err: Error) => {
      lost.push(`sent ${sentAt} ms after the kill: ${err.message}`);
      return undefined;
    });
    if (!answer) continue;
    const { pid } = JSON.parse(answer.body) as { pid: number };
    if (!byPid.has(pid)) replacement = pid;
    else await sleep(50);
  }
  assert.ok(replacement, 'a replacement worker serves within 20 s');
  if (lost.length > 0) t.diagnostic(`lost while worker 2 was replaced: ${lost.join('; ')}`);
  // A connection the primary was handing to worker 2 as it died is stranded (node:cluster's
  // round-robin hand-off gets no reply from a dead worker); any later one is served.
  assert.ok(lost.length <= 1 && lost.every((l) => Number(/sent (\d+) ms/.exec(l)?.[1]) < 1_000), `new connections kept being served while worker 2 was replaced; lost: ${lost.join('; ')}`);
  assert.equal((await get(`${gateway.publicUrl}/fresh`)).status, 200);
  assert.equal(await metric(gateway.adminUrl, 'switchboard_worker_restarts_total'), 1);
  assert.equal(await metric(gateway.adminUrl, 'switchboard_workers'), 2);

  // SIGKILL worker 1 (admin listener and prober): its replacement takes both over.
  const leader = JSON.parse((await get(`${gateway.adminUrl}/livez`)).body) as { worker: number; pid: number };
  assert.equal(leader.worker, 1, 'the admin listener is worker 1');
  process.kill(leader.pid, 'SIGKILL');
  const leaderKilledAt = Date.now();
  let admin: { worker: number; pid: number } | undefined;
  while (Date.now() - leaderKilledAt < 20_000) {
    const answer = await get(`${gateway.adminUrl}/livez`).catch(() => undefined);
    if (answer?.status === 200) admin = JSON.parse(answer.body) as { worker: number; pid: number };
    if (admin && admin.pid !== leader.pid) break;
    await sleep(100);
  }
  assert.ok(admin && admin.pid !== leader.pid && admin.worker === 1, 'a new worker 1 serves the admin port again');
  healthy = false;
  // The new prober needs one failed probe (unhealthyThreshold 1), then the relay: 4 new connections reach both workers.
  for (let i = 0; i < 20; i++) {
    const statuses: Answer[] = await Promise.all([get(`${gateway.publicUrl}/fresh`), get(`${gateway.publicUrl}/fresh`), get(`${gateway.publicUrl}/fresh`), get(`${gateway.publicUrl}/fresh`)]);
    if (statuses.every((r) => r.status === 503)) break;
    await sleep(100);
    if (i === 19) assert.fail(`the replacement prober's verdict did not reach every worker: ${statuses.map((r) => r.status)}`);
  }
  healthy = true;
  assert.equal(await metric(gateway.adminUrl, 'switchboard_worker_restarts_total'), 2);

  gateway.child.kill('SIGTERM');
  const { code } = await Promise.race([gateway.exited, sleep(30_000).then(() => ({ code: 'no exit within 30 s of SIGTERM' }))]);
  assert.equal(code, 0, gateway.output());
});

test('WORKERS=2 without Redis: a rate limit, a token limit and token usage are the node\'s, not per worker — 6 of 12 requests and 3 answers of 10 tokens against 25 spread over both workers are admitted, the admin API reports both workers\' usage, and a replaced worker goes on from the node\'s count', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-workers-limit-'));
  const upstream = createServer((req, res) => {
    if (!req.url?.startsWith('/tokens')) return res.end('ok');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ id: 'c1', object: 'chat.completion', model: 'sim', choices: [], usage: { prompt_tokens: 4, completion_tokens: 6, total_tokens: 10 } }));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const storeUrl = `file:${join(dir, 'store.json')}`;
  const store = await openStore(storeUrl);
  await replaceConfig(
    store,
    {
      upstreams: [{ name: 'pool', targets: [{ url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` }] }],
      routes: [
        { name: 'limited', paths: ['/limited/*'], methods: ['GET'], upstream: 'pool', rateLimit: { max: 6, windowMs: 60_000, by: 'ip' } },
        { name: 'tokens', paths: ['/tokens/*'], methods: ['GET'], upstream: 'pool', tokenLimit: { max: 25, windowMs: 60_000 } },
        { name: 'metered', paths: ['/tokens-metered/*'], methods: ['GET'], upstream: 'pool', auth: 'api-key', meterTokens: true },
        { name: 'keyed', paths: ['/keyed/*'], methods: ['GET'], upstream: 'pool', auth: 'api-key' },
      ],
      consumers: [{ name: 'acme' }],
    },
    'test',
  );
  await store.close();
  const left = cleanUpAfter(t, upstream, dir);
  const agents = left.agents;
  const gateway = (left.gateway = await startGateway('node', storeUrl, { WORKERS: '2', DRAIN_DELAY_MS: '0' }));
  const byPid = await connectionPerWorker(gateway.publicUrl, 2);
  agents.push(...byPid.values());
  assert.equal(byPid.size, 2, 'a kept-alive connection to each worker');
  const [first, second] = [...byPid.values()];

  // Alternate between the workers: counted per worker each would admit its own 6, i.e. all 12.
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) statuses.push((await on(i % 2 === 0 ? first! : second!, `${gateway.publicUrl}/limited/x`)).status);
  assert.equal(statuses.filter((s) => s === 200).length, 6, `admitted: ${statuses.join(' ')}`);
  assert.deepEqual(statuses.slice(6), [429, 429, 429, 429, 429, 429], 'the node\'s 7th request on is refused, on either worker');

  // Tokens are charged when an answer ends: 10, 20, 30 spent — the 4th is refused on either
  // worker. Counted per worker, each would admit 3 (0, 10, 20 spent) and all 6 would pass.
  const tokenStatuses: number[] = [];
  for (let i = 0; i < 6; i++) {
    tokenStatuses.push((await on(i % 2 === 0 ? first! : second!, `${gateway.publicUrl}/tokens/chat`)).status);
    await sleep(50); // the charge goes to the primary as the answer ends; let it land before the next read
  }
  assert.deepEqual(tokenStatuses, [200, 200, 200, 429, 429, 429], 'token budget for the node');

  // Usage: 4 metered answers, 2 on each worker; the admin API (worker 1) reports all 4.
  const login = await on(first!, `${gateway.adminUrl}/api/v1/auth/login`, { method: 'POST', body: JSON.stringify(ADMIN) });
  const token = (JSON.parse(login.body) as { token: string }).token;
  const issued = await on(first!, `${gateway.adminUrl}/api/v1/consumers/acme/keys`, { method: 'POST', token, body: '{}' });
  const key = (JSON.parse(issued.body) as { key: string }).key;
  // A new key reaches each worker with the store's next poll: wait until both take it (on a route that meters nothing).
  for (const agent of [first!, second!]) {
    const deadline = Date.now() + 5_000;
    while ((await on(agent, `${gateway.publicUrl}/keyed/ping`, { headers: { 'x-api-key': key } })).status !== 200) {
      assert.ok(Date.now() < deadline, 'the new key works on both workers within 5 s');
      await sleep(50);
    }
  }
  for (let i = 0; i < 4; i++) {
    const answer = await on(i % 2 === 0 ? first! : second!, `${gateway.publicUrl}/tokens-metered/chat`, { headers: { 'x-api-key': key } });
    assert.equal(answer.status, 200, answer.body);
  }
  await sleep(100);
  const usage = await on(first!, `${gateway.adminUrl}/api/v1/consumers/acme/usage?granularity=minute&from=${new Date(Date.now() - 10 * 60_000).toISOString()}`, { token });
  const totals = (JSON.parse(usage.body) as { totals: { promptTokens: number; completionTokens: number } }).totals;
  assert.deepEqual(totals, { ...totals, promptTokens: 16, completionTokens: 24 }, `the node's usage, both workers': ${usage.body}`);

  // The count lives in the primary: a worker that dies and is replaced does not start from zero.
  const [victim] = [...byPid.keys()];
  process.kill(victim!, 'SIGKILL');
  let after = new Map<number, Agent>();
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(200)) {
    for (const a of after.values()) a.destroy();
    after = await connectionPerWorker(gateway.publicUrl, 2).catch(() => new Map<number, Agent>());
    if (after.size === 2 && !after.has(victim!)) break;
  }
  agents.push(...after.values());
  assert.ok(after.size === 2 && !after.has(victim!), 'a replacement worker serves beside the survivor');
  for (const agent of after.values()) assert.equal((await on(agent, `${gateway.publicUrl}/limited/y`)).status, 429, 'the window is still spent, on the replacement too');
});

test('WORKERS=2: a target one worker ejects passively is out on the other worker too, the admin API (worker 1) shows the ejection, and a replaced worker 1 starts with it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-workers-eject-'));
  // One server, two targets: the "bad" port answers 500, the "good" one 200.
  const good = createServer((_req, res) => res.end('good'));
  const bad = createServer((_req, res) => {
    res.statusCode = 500;
    res.end('bad');
  });
  await new Promise<void>((resolve) => good.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => bad.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    bad.close();
    bad.closeAllConnections();
  });
  const badUrl = `http://127.0.0.1:${(bad.address() as AddressInfo).port}`;
  const storeUrl = `file:${join(dir, 'store.json')}`;
  const store = await openStore(storeUrl);
  await replaceConfig(
    store,
    {
      upstreams: [{
        name: 'pair',
        targets: [{ url: `http://127.0.0.1:${(good.address() as AddressInfo).port}` }, { url: badUrl }],
        // 100 %: the pool may lose either target; 60 s: the ejection outlasts the test.
        healthCheck: { passive: { consecutiveFailures: 2, ejectMs: 60_000, maxEjectionPercent: 100 } },
      }],
      routes: [{ name: 'pair', paths: ['/pair/*'], methods: ['GET'], upstream: 'pair', retries: 0 }],
    },
    'test',
  );
  await store.close();
  const left = cleanUpAfter(t, good, dir);
  // A fixed admin port: worker 1, which holds it, is replaced below and must listen on it again.
  const adminPort = await freePort();
  const gateway = (left.gateway = await startGateway('node', storeUrl, { WORKERS: '2', DRAIN_DELAY_MS: '0', ADMIN_PORT: String(adminPort) }));
  const byWorker = new Map<number, Agent>();
  for (let i = 0; i < 40 && byWorker.size < 2; i++) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    left.agents.push(agent);
    const { worker } = JSON.parse((await on(agent, `${gateway.publicUrl}/livez`)).body) as { worker: number };
    if (!byWorker.has(worker)) byWorker.set(worker, agent);
  }
  assert.equal(byWorker.size, 2, 'a kept-alive connection to each worker');

  // Worker 2 sees the failures: round robin sends every other request to the bad target.
  const seen: number[] = [];
  for (let i = 0; i < 6 && seen.filter((s) => s === 500).length < 2; i++) seen.push((await on(byWorker.get(2)!, `${gateway.publicUrl}/pair/x`)).status);
  assert.equal(seen.filter((s) => s === 500).length, 2, `worker 2 met the bad target twice: ${seen.join(' ')}`);

  // The admin API runs in worker 1, which has sent nothing to the bad target: it shows worker 2's ejection.
  const login = await on(byWorker.get(1)!, `${gateway.adminUrl}/api/v1/auth/login`, { method: 'POST', body: JSON.stringify(ADMIN) });
  const token = (JSON.parse(login.body) as { token: string }).token;
  let entry: { url: string; state: string; ejectedUntil: string | null; ejections: number } | undefined;
  for (const deadline = Date.now() + 2_000; Date.now() < deadline; await sleep(50)) {
    const health = await on(byWorker.get(1)!, `${gateway.adminUrl}/api/v1/upstreams/pair/health`, { token });
    entry = (JSON.parse(health.body) as Array<NonNullable<typeof entry>>).find((e) => e.url === badUrl);
    if (entry?.ejectedUntil) break;
  }
  assert.ok(entry?.ejectedUntil, `worker 1's health view shows the ejection within 2 s: ${JSON.stringify(entry)}`);
  assert.equal(entry.state, 'unhealthy');
  assert.ok(Date.parse(entry.ejectedUntil) > Date.now() + 50_000, 'for the ejection time worker 2 chose');

  // Worker 1 never met the bad target, and sends it nothing: every request is the good one's.
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) statuses.push((await on(byWorker.get(1)!, `${gateway.publicUrl}/pair/x`)).status);
  assert.deepEqual(statuses, Array(10).fill(200), `worker 1 leaves the target worker 2 ejected out: ${statuses.join(' ')}`);

  // A replacement worker 1 is handed the node's ejections in force by the primary before it serves.
  const leader = JSON.parse((await get(`${gateway.adminUrl}/livez`)).body) as { worker: number; pid: number };
  assert.equal(leader.worker, 1);
  process.kill(leader.pid, 'SIGKILL');
  let replaced: { worker: number; pid: number } | undefined;
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(100)) {
    const answer = await get(`${gateway.adminUrl}/livez`).catch(() => undefined);
    if (answer?.status === 200) replaced = JSON.parse(answer.body) as { worker: number; pid: number };
    if (replaced && replaced.pid !== leader.pid) break;
  }
  assert.ok(replaced && replaced.pid !== leader.pid && replaced.worker === 1, 'a new worker 1 serves the admin port');
  const fresh = new Agent({ keepAlive: true, maxSockets: 1 });
  left.agents.push(fresh);
  const relogin = JSON.parse((await on(fresh, `${gateway.adminUrl}/api/v1/auth/login`, { method: 'POST', body: JSON.stringify(ADMIN) })).body) as { token: string };
  const view = JSON.parse((await on(fresh, `${gateway.adminUrl}/api/v1/upstreams/pair/health`, { token: relogin.token })).body) as Array<{ url: string; ejectedUntil: string | null }>;
  const after = view.find((e) => e.url === badUrl);
  assert.equal(after?.ejectedUntil, entry.ejectedUntil, `the replacement shows worker 2's ejection, until the same moment: ${JSON.stringify(after)}`);
});
