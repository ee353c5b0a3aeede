import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEchoUpstream, unusedPort, type EchoUpstream } from '../helpers/echo-upstream.js';
import { killAllChildrenNow } from './child-processes.js';
import { BENCH_PATH, nodeBare, PIPELINE_CONSUMER, PIPELINE_QUERY, switchboard, switchboardPipeline, type RunningContender } from './contenders.js';
import { comparisonLines, cpuComparisons, type ContenderResult } from './proxy-bench.js';
import type { Target } from './upstreams.js';

/**
 * The proxy bench's contenders start and answer as the bench expects, without any load:
 * the bare Node proxy is an honest proxy (round robin, hop-by-hop headers dropped,
 * x-forwarded-for, 502), and the pipeline contender really runs every stage of its route.
 */

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(url: string, headers: Record<string, string> = {}, method = 'GET', body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

let upstreams: EchoUpstream[] = [];
let targets: Target[] = [];
let workDir = '';
const started: RunningContender[] = [];

before(async () => {
  upstreams = await Promise.all(['a', 'b', 'c'].map((name) => startEchoUpstream(name)));
  targets = upstreams.map((upstream) => ({ host: '127.0.0.1', port: upstream.port }));
  workDir = mkdtempSync(join(tmpdir(), 'switchboard-contenders-'));
});

after(async () => {
  await Promise.all(started.map((running) => running.stop()));
  killAllChildrenNow();
  await Promise.all(upstreams.map((upstream) => upstream.close()));
  rmSync(workDir, { recursive: true, force: true });
});

async function start(contender: typeof nodeBare, to: Target[] = targets): Promise<RunningContender> {
  assert.equal(contender.unavailableReason(), undefined, 'built and runnable');
  const running = await contender.start(workDir, to);
  started.push(running);
  return running;
}

describe('node-bare, the bare node:http + undici proxy', () => {
  test('passes answers through round robin over the three upstreams, appends x-forwarded-for and drops hop-by-hop headers', async () => {
    const running = await start(nodeBare);
    const seenBy = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const answer = await get(running.url, {
        connection: 'keep-alive, x-hop',
        'x-hop': 'must not pass',
        'keep-alive': 'timeout=5',
        'x-forwarded-for': '203.0.113.7',
        'x-end-to-end': 'kept',
      });
      assert.equal(answer.status, 200, answer.body);
      const echoed = JSON.parse(answer.body) as { url: string; headers: Record<string, string> };
      assert.equal(echoed.url, BENCH_PATH);
      assert.equal(echoed.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
      assert.equal(echoed.headers['x-end-to-end'], 'kept');
      assert.equal(echoed.headers['x-hop'], undefined, 'a header the Connection header names is hop-by-hop');
      assert.equal(echoed.headers['keep-alive'], undefined);
      seenBy.add(String(answer.headers['x-upstream']));
    }
    assert.deepEqual([...seenBy].sort(), ['a', 'b', 'c']);
  });

  test('streams a request body through, chunked or with a length', async () => {
    const running = await start(nodeBare);
    const sized = await get(running.url, { 'content-type': 'text/plain' }, 'POST', 'x'.repeat(70_000));
    assert.equal(sized.status, 200);
    assert.equal((JSON.parse(sized.body) as { body: string }).body.length, 70_000);
    const chunked = await get(running.url, { 'transfer-encoding': 'chunked' }, 'POST', 'hello');
    assert.equal((JSON.parse(chunked.body) as { body: string }).body, 'hello');
  });

  test('answers 502 when its upstream refuses the connection', async () => {
    // The start-up probe needs one live upstream; the dead one is asked on the second request.
    const running = await start(nodeBare, [targets[0]!, { host: '127.0.0.1', port: await unusedPort() }]);
    const statuses = [(await get(running.url)).status, (await get(running.url)).status];
    assert.ok(statuses.includes(502), `one of the two went to the dead upstream: ${statuses.join(', ')}`);
    assert.ok(statuses.includes(200));
  });
});

describe('switchboard-pipeline, the gateway with the full partner pipeline', () => {
  let running: RunningContender;
  before(async () => {
    running = await start(switchboardPipeline);
  });

  test('answers 200 with the issued key through key, rate limit, schema and least-connections', async () => {
    assert.ok(running.headers?.['x-api-key']?.startsWith('sb_live_'), 'the load sends an issued key');
    assert.ok(running.url.endsWith(`${BENCH_PATH}${PIPELINE_QUERY}`));
    const answer = await get(running.url, running.headers);
    assert.equal(answer.status, 200, answer.body);
    assert.equal(answer.headers['ratelimit-limit'], '1000000000', 'the limit counts this request');
    const echoed = JSON.parse(answer.body) as { headers: Record<string, string> };
    assert.equal(echoed.headers['x-consumer-name'], PIPELINE_CONSUMER);
    assert.equal(echoed.headers['x-api-key'], undefined, 'the key is never forwarded');
  });

  test('refuses a request without the key with 401', async () => {
    const answer = await get(running.url);
    assert.equal(answer.status, 401, answer.body);
    assert.match(String(answer.headers['content-type']), /application\/problem\+json/);
  });

  test('refuses a request whose query the schema does not allow with 400', async () => {
    const bare = running.url.slice(0, running.url.indexOf('?'));
    assert.equal((await get(bare, running.headers)).status, 400);
    assert.equal((await get(`${bare}?model=Not%20A%20Model`, running.headers)).status, 400);
  });

  test('writes one access-log line per answered request to its log file, without the key', async () => {
    await get(running.url, running.headers);
    await get(running.url);
    const key = running.headers!['x-api-key']!;
    let lines: Array<{ msg?: string; status?: number; consumer?: string }> = [];
    // pino writes synchronously, but give the file a moment on a loaded machine.
    for (let i = 0; i < 20 && !lines.some((line) => line.status === 401); i++) {
      const text = readFileSync(running.logFile!, 'utf8');
      assert.ok(!text.includes(key), 'the key is never logged');
      // The start-up banner is plain text; the log lines are pino's JSON.
      lines = text.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { msg?: string; status?: number });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const access = lines.filter((line) => line.msg === 'access');
    assert.ok(access.some((line) => line.status === 200 && line.consumer === PIPELINE_CONSUMER), 'a proxied request is logged with its consumer');
    assert.ok(access.some((line) => line.status === 401), 'a refused request is logged too');
  });
});

test('the plain switchboard contender still starts on its imported route and answers 200', async () => {
  const running = await start(switchboard);
  assert.equal((await get(running.url)).status, 200);
  assert.equal(running.headers, undefined);
});

describe('the CPU comparisons under the proxy table', () => {
  const result = (name: string, cpu: number, problems: string[] = []): ContenderResult => ({
    name,
    description: name,
    status: problems.length === 0 ? 'ran' : 'failed',
    problems,
    throughput: { requests: 1, seconds: 1, requestsPerSecond: 1, p50Ms: 1, p99Ms: 1, non2xx: 0, errors: 0, proxyCpuUsPerRequest: cpu },
  });

  test('the issue-12 goal is met at 1.3× node-bare and missed above it', () => {
    const met = cpuComparisons([result('node-bare', 40), result('switchboard-pipeline', 52), result('switchboard', 44)]);
    assert.equal(met.pipelineGoal.met, true);
    assert.match(comparisonLines(met).join('\n'), /switchboard \/ node-bare ×1\.10.*switchboard-pipeline \/ node-bare ×1\.30/);
    assert.match(comparisonLines(met).at(-1)!, /MET \(switchboard-pipeline \/ node-bare ×1\.30\)/);
    const missed = cpuComparisons([result('node-bare', 40), result('switchboard-pipeline', 52.4)]);
    assert.equal(missed.pipelineGoal.met, false);
    assert.match(comparisonLines(missed).at(-1)!, /MISSED \(switchboard-pipeline \/ node-bare ×1\.31\)/);
  });

  test('the goal is judged at the fixed rate too, from the latency run, apart from saturation', () => {
    const withRate = (name: string, cpu: number, atRate: number): ContenderResult => ({
      ...result(name, cpu),
      latency: { ...result(name, cpu).throughput!, pooledP50Ms: 1, pooledP99Ms: 1, ratePerRound: [], p50PerRoundMs: [], p99PerRoundMs: [], proxyCpuUsPerRequest: atRate },
    });
    const both = cpuComparisons([withRate('node-bare', 40, 50), withRate('switchboard-pipeline', 80, 60)]);
    assert.deepEqual([both.pipelineGoal.met, both.pipelineGoal.metAtRate], [false, true]);
    assert.match(comparisonLines(both).at(-1)!, /at saturation: MISSED \(switchboard-pipeline \/ node-bare ×2\.00\); at the fixed rate: MET \(switchboard-pipeline \/ node-bare ×1\.20\)/);
    assert.match(comparisonLines(both).join('\n'), /at the latency run's fixed rate: .*switchboard-pipeline \/ node-bare ×1\.20/);
    // Without latency figures the fixed-rate verdict is not judged, the saturated one stands.
    const saturatedOnly = cpuComparisons([result('node-bare', 40), result('switchboard-pipeline', 52)]);
    assert.deepEqual([saturatedOnly.pipelineGoal.met, saturatedOnly.pipelineGoal.metAtRate], [true, undefined]);
  });

  test('the goal is not judged when node-bare did not run, or failed in the throughput run', () => {
    assert.equal(cpuComparisons([result('switchboard-pipeline', 52)]).pipelineGoal.met, undefined);
    const failed = cpuComparisons([result('node-bare', 40, ['throughput run, measure: wrk exited 1']), result('switchboard-pipeline', 52)]);
    assert.equal(failed.pipelineGoal.met, undefined);
    assert.match(comparisonLines(failed).at(-1)!, /not judged/);
    // A failure in the latency run leaves the throughput figures whole.
    const latencyOnly = cpuComparisons([result('node-bare', 40, ['latency run, measure: boom']), result('switchboard-pipeline', 50)]);
    assert.equal(latencyOnly.pipelineGoal.met, true);
  });
});
