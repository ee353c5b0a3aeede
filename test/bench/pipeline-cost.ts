/**
 * Where the partner pipeline's CPU goes: the bench's pipeline request (GET with ?model=…) through
 * routes that add one stage at a time — least-connections, api-key, rate limit, querystring
 * schema — and the first and last again on a node with ACCESS_LOG on, both nodes alone in a child
 * process, side by side in one run. `npm run bench -- proxy` gives the ratio to a bare
 * proxy; this gives what each stage adds to it.
 *
 *   node_modules/.bin/node dist/test/bench/pipeline-cost.js
 */
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { createLogger } from '../../gateway/src/logger.js';
import { pino } from 'pino';
import { answerCpuProbes, cpuPerRequestRounds, forkCpuChild, median, type CostLoad } from '../helpers/cpu-child.js';
import { startEchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway } from '../helpers/gateway.js';
import { caughtUp } from '../plugins/fixtures.js';

const QUERY = '?model=bench-1';
const LIMIT = { max: 1_000_000_000, windowMs: 60_000, by: 'consumer' };
const SCHEMA = {
  querystring: {
    type: 'object',
    properties: { model: { type: 'string', pattern: '^[a-z0-9][a-z0-9.-]{0,63}$' } },
    required: ['model'],
    additionalProperties: false,
  },
};

/** Each row adds one thing to the one above it, so the differences are what each stage costs. */
const ROUTES = [
  { name: 'plain', upstream: 'rr' },
  { name: 'least-conn', upstream: 'lc' },
  { name: 'api-key', upstream: 'lc', auth: 'api-key' },
  { name: 'rate-limit', upstream: 'lc', auth: 'api-key', rateLimit: LIMIT },
  { name: 'schema', upstream: 'lc', auth: 'api-key', rateLimit: LIMIT, schema: SCHEMA },
];

/**
 * A node serving every row's route; with `accessLogFile`, ACCESS_LOG on and written there as
 * `npm start` writes stdout: its log a line at a time (sync), access lines in buffered writes.
 */
async function node(upstreamUrl: string, accessLogFile?: string) {
  const accessLog = accessLogFile !== undefined;
  const logger = accessLog ? createLogger('info', pino.destination({ dest: accessLogFile, sync: true })) : undefined;
  const accessLogFd = accessLog ? openSync(accessLogFile, 'a') : undefined;
  const gw = await startGateway({
    upstreams: [
      { name: 'rr', targets: [{ url: upstreamUrl }] },
      { name: 'lc', algorithm: 'least-connections', targets: [{ url: upstreamUrl }] },
    ],
    routes: ROUTES.map((r) => ({ methods: ['GET'], paths: [`/${r.name}`], ...r })),
    consumers: [{ name: 'acme' }],
  }, { accessLog, accessLogFd, logger });
  const { key } = await issueKey(gw.store, 'acme', { actor: 'bench' });
  await caughtUp(gw);
  return { gw, key };
}

/**
 * Both nodes in one process: a load's CPU is read around its own run while the other node
 * idles, so the access log's cost is not blurred by two processes' different luck with the
 * scheduler and caches.
 */
async function serve(upstreamUrl: string): Promise<void> {
  const logDir = mkdtempSync(join(tmpdir(), 'pipeline-cost-'));
  const quiet = await node(upstreamUrl);
  const logged = await node(upstreamUrl, join(logDir, 'access.log'));
  const both = {
    close: async () => {
      await Promise.all([quiet.gw.close(), logged.gw.close()]);
      rmSync(logDir, { recursive: true, force: true });
    },
  };
  answerCpuProbes(both, { quiet: quiet.gw.url, logged: logged.gw.url, key: quiet.key, loggedKey: logged.key });
}

async function measure(): Promise<void> {
  const upstream = await startEchoUpstream('echo');
  upstream.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
    res.end('ok');
    return true;
  };
  const gateway = await forkCpuChild<{ quiet: string; logged: string; key: string; loggedKey: string }>(fileURLToPath(import.meta.url), ['serve', upstream.url]);
  const { hello } = gateway;
  const load = (logged: boolean, name: string, label = name): CostLoad => ({
    name: label,
    cpu: gateway.cpu,
    request: { url: `${logged ? hello.logged : hello.quiet}/${name}${QUERY}`, method: 'GET', headers: { 'x-api-key': logged ? hello.loggedKey : hello.key } },
  });
  const all = [...ROUTES.map((r) => load(false, r.name)), load(true, 'plain', 'plain + access log'), load(true, 'schema', 'schema + access log')];
  // PIPELINE_LOADS=api-key,rate-limit narrows the run to those rows, for a closer look at one step.
  const only = process.env.PIPELINE_LOADS?.split(',');
  const loads = only === undefined ? all : all.filter((l) => only.includes(l.name));
  const rounds = await cpuPerRequestRounds(loads);
  console.log('gateway CPU per request (median of 5 rounds × 10 000 requests, 16 connections); each row adds one stage');
  let previous: number | undefined;
  const first = median(rounds[0]!);
  for (const [i, l] of loads.entries()) {
    const m = median(rounds[i]!);
    const step = previous === undefined ? '' : `  ${m - previous >= 0 ? '+' : ''}${(m - previous).toFixed(1)} µs`;
    console.log(`  ${l.name.padEnd(22)} ${m.toFixed(1).padStart(6)} µs  ×${(m / first).toFixed(2)}${step.padEnd(12)}  rounds ${rounds[i]!.map((r) => r.toFixed(0)).join(" ")}`);
    previous = m;
  }
  gateway.exit();
  await upstream.close();
}

if (process.argv[2] === 'serve') void serve(process.argv[3]!);
else void measure();
