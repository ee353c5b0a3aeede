import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readyOrStop, startChild } from '../../bench/child-processes.js';
import { nginxTempPaths } from '../../bench/nginx-config.js';
import { freePorts, waitForHttpOk } from '../../bench/ports.js';
import { findTool } from '../../bench/tools.js';
import { isFailure, startLoop } from '../load-loop.js';
import { poolConfig, type CaseResult, type ChaosCase } from '../chaos-case.js';
import { sendRaw } from '../raw-client.js';
import { HOST, workDir } from '../stage.js';
import { describeFailures, stagePool } from './workers.js';

const SECRET = 'keyed-content-v1';

/**
 * Debian's nginx as the upstream, because it normalizes as most origins do (percent-decoding,
 * dot segments, merged slashes): whatever reaches it and resolves to /v1/ is served the keyed
 * content. Its access log keeps each request line as it arrived.
 */
function nginxOriginConfig(dir: string, port: number): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'origin.pid')};
error_log ${join(dir, 'origin-error.log')} warn;
events { worker_connections 1024; }
http {
${nginxTempPaths(dir, 'origin')}
    log_format lines '$request';
    access_log ${join(dir, 'origin-access.log')} lines;
    default_type text/plain;
    server {
        listen ${HOST}:${port};
        location = /ready { return 200 "ready\\n"; }
        location /v1/ { return 200 "${SECRET}\\n"; }
        location /public/ { return 200 "public\\n"; }
        location / { return 404 "nothing\\n"; }
    }
}
`;
}

type Expect = 'not-secret' | '400';

export const pathTricksCase: ChaosCase = {
  name: 'path and header tricks past a keyed route (nginx origin)',
  limitMs: 60_000,
  async run(): Promise<CaseResult> {
    const nginx = findTool('nginx');
    if (nginx === undefined) throw new Error('nginx is not installed (apt-get install -y nginx): this case needs a normalizing origin');
    const originWork = workDir('origin');
    const originDir = originWork.dir;
    const [originPort] = (await freePorts(1)) as [number];
    writeFileSync(join(originDir, 'origin.conf'), nginxOriginConfig(originDir, originPort));
    const origin = startChild('nginx origin', nginx, ['-p', originDir, '-c', join(originDir, 'origin.conf'), '-e', join(originDir, 'origin-error.log')]);
    let stage: Awaited<ReturnType<typeof stagePool>> | undefined;
    try {
      await readyOrStop(origin, () => waitForHttpOk(`http://${HOST}:${originPort}/ready`, 10_000, origin));
      stage = await stagePool('paths', (workers) =>
        poolConfig(workers.map((w) => w.url), {
          upstreams: [{ name: 'origin', targets: [{ url: `http://${HOST}:${originPort}` }] }],
          routes: [
            { name: 'keyed', methods: ['GET'], paths: ['/v1/*'], upstream: 'origin', auth: 'api-key' },
            { name: 'open', methods: ['GET'], paths: ['/public/*'], upstream: 'origin', auth: 'none' },
          ],
          consumers: [{ name: 'partner' }],
        }));
      const issued = await stage.gateway.admin('POST', '/consumers/partner/keys', {});
      if (issued.status !== 201) throw new Error(`issuing a key answered ${issued.status}: ${JSON.stringify(issued.body)}`);
      const key = issued.body.key as string;
      await new Promise((resolve) => setTimeout(resolve, 1500));

      const port = stage.gateway.port;
      const get = (target: string, headers: string[] = [`Host: ${HOST}:${port}`]) => `GET ${target} HTTP/1.1\r\n${headers.join('\r\n')}\r\nConnection: close\r\n\r\n`;
      // Controls: the keyed route serves with the key and refuses without it, so the vectors
      // below could fail.
      const withKey = await sendRaw(port, get('/v1/x', [`Host: ${HOST}:${port}`, `x-api-key: ${key}`]));
      const withoutKey = await sendRaw(port, get('/v1/x'));
      const controlsHold = withKey.status === 200 && withKey.text.includes(SECRET) && withoutKey.status === 401;

      const vectors: Array<[string, string, Expect]> = [
        ['/public/../v1/x', get('/public/../v1/x'), 'not-secret'],
        ['/public/%2e%2e/v1/x', get('/public/%2e%2e/v1/x'), 'not-secret'],
        ['/public/%2E%2E/v1/x', get('/public/%2E%2E/v1/x'), 'not-secret'],
        ['/public/..%2fv1/x', get('/public/..%2fv1/x'), 'not-secret'],
        ['/public/x/../../v1/x', get('/public/x/../../v1/x'), 'not-secret'],
        ['/public/.%2e/v1/x', get('/public/.%2e/v1/x'), 'not-secret'],
        ['/public/..\\v1/x', get('/public/..\\v1/x'), 'not-secret'],
        ['/public/..;/v1/x', get('/public/..;/v1/x'), 'not-secret'],
        ['/public/%252e%252e/v1/x', get('/public/%252e%252e/v1/x'), 'not-secret'],
        ['//v1/x', get('//v1/x'), 'not-secret'],
        ['/v1%2fx', get('/v1%2fx'), 'not-secret'],
        ['/public/x/..%2f..%2fv1/x', get('/public/x/..%2f..%2fv1/x'), 'not-secret'],
        ['absolute-form /v1/x', get(`http://${HOST}:${port}/v1/x`), 'not-secret'],
        ['absolute-form /public/../v1/x', get(`http://evil.example/public/../v1/x`), 'not-secret'],
        ['duplicate Host', get('/public/x', [`Host: ${HOST}:${port}`, 'Host: evil.example']), '400'],
        ['Host with a path', get('/public/x', ['Host: a/v1/x']), '400'],
        ['duplicate x-api-key (valid, wrong)', get('/v1/x', [`Host: ${HOST}:${port}`, `x-api-key: ${key}`, 'x-api-key: sb_live_wrong']), 'not-secret'],
        ['duplicate x-api-key (wrong, valid)', get('/v1/x', [`Host: ${HOST}:${port}`, 'x-api-key: sb_live_wrong', `x-api-key: ${key}`]), 'not-secret'],
      ];
      const loop = startLoop({ url: `${stage.gateway.publicUrl}/echo`, ratePerSecond: 100 });
      const bad: string[] = [];
      const outcomes: string[] = [];
      for (const [name, bytes, expect] of vectors) {
        const answer = await sendRaw(port, bytes);
        const leaked = answer.text.includes(SECRET);
        const status = answer.status === 0 ? (answer.closed ? 'closed' : 'no answer') : String(answer.status);
        outcomes.push(`${name} ${status}`);
        if (leaked) bad.push(`${name}: served the keyed content without a valid key`);
        else if (answer.status >= 500) bad.push(`${name}: ${answer.status}`);
        else if (expect === '400' && answer.status !== 400) bad.push(`${name}: ${status}, not 400`);
      }
      // RFC 9112 §3.2.2: an absolute-form target goes upstream in origin-form.
      const lines = readFileSync(join(originDir, 'origin-access.log'), 'utf8').split('\n').filter(Boolean);
      const absolute = lines.filter((l) => /^\S+ https?:\/\//.test(l));
      if (absolute.length > 0) bad.push(`absolute-form forwarded: ${absolute[0]}`);
      const samples = await loop.stop();
      const failures = samples.filter((s) => isFailure(s));
      if (!controlsHold) bad.unshift(`controls do not hold (with key ${withKey.status}, without ${withoutKey.status})`);
      return {
        name: this.name,
        sent: samples.length + vectors.length + 2,
        failed: bad.length + failures.length,
        recoveryMs: null,
        pass: bad.length === 0 && failures.length === 0 && stage.gateway.alive(),
        goal: 'no vector gets the keyed content without a valid key; duplicate or bad Host 400; origin-form upstream',
        detail: `${bad.length ? `BAD: ${bad.join('; ')}. ` : ''}${outcomes.join(', ')}; loop failures: ${describeFailures(failures)}`,
      };
    } finally {
      await origin.stop();
      await stage?.teardown();
      originWork.remove();
    }
  },
};
