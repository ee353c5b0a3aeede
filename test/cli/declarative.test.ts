import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGatewayProcess, TEST_ADMIN, type GatewayProcess } from '../helpers/gateway-process.js';

const root = new URL('../../../', import.meta.url).pathname;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

let gateway: GatewayProcess;
let upstream: EchoUpstream;
let dir: string;
let token: string;

/** The real `switchboard` command against the gateway's admin API, as CI runs it. */
function switchboard(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const merged: NodeJS.ProcessEnv = { ...process.env, SWITCHBOARD_TOKEN: token, ...env };
    for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
    execFile(process.execPath, [join(root, 'bin/switchboard.js'), ...args, '--admin', gateway.adminUrl], { env: merged, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any; etag: string | null }> {
  const response = await fetch(`${gateway.adminUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : null,
  });
  return { status: response.status, body: await response.json(), etag: response.headers.get('etag') };
}

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

const poolYaml = (timeout: string, extraTarget = '') => `
upstreams:
  - name: gpus
    targets:
      - url: "${upstream.url}"
${extraTarget}
routes:
  - name: chat
    methods: [POST]
    paths: ["/v1/chat"]
    upstream: gpus
    timeoutMs: ${timeout}
consumers:
  - name: acme
    jwt:
      - { issuer: "https://issuer.example", secret: "\${ACME_JWT_SECRET}" }
`;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sb-declarative-'));
  upstream = await startEchoUpstream();
  gateway = await startGatewayProcess(`file:${join(dir, 'store.json')}`);
  const login = await fetch(`${gateway.adminUrl}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(TEST_ADMIN) });
  token = ((await login.json()) as { token: string }).token;
});

after(async () => {
  await gateway?.stop();
  await upstream?.close();
  await rm(dir, { recursive: true, force: true });
});

const SECRET = 'acme-hmac-secret-0123456789abcdef';

describe('switchboard diff and apply', () => {
  test('diff shows what would change and exits 2; apply makes it; a second apply reports no change and exits 0', async () => {
    const path = await file('pool.yaml', poolYaml('${CHAT_TIMEOUT_MS}'));
    const env = { CHAT_TIMEOUT_MS: '30000', ACME_JWT_SECRET: SECRET };

    const firstDiff = await switchboard(['diff', path], env);
    assert.equal(firstDiff.code, 2, firstDiff.stderr);
    assert.match(firstDiff.stdout, /^\+ upstreams\/gpus \(added\)$/m);
    assert.match(firstDiff.stdout, /^\+ routes\/chat \(added\)$/m);
    assert.match(firstDiff.stdout, /3 to add, 0 to change, 0 to remove/);
    assert.equal((await api('GET', '/config')).body.routes.length, 0, 'diff changed nothing');

    const applied = await switchboard(['apply', path], env);
    assert.equal(applied.code, 2, applied.stderr);
    assert.match(applied.stdout, /applied: revision \d+/);
    const stored = (await api('GET', '/config')).body;
    assert.equal(stored.routes[0].timeoutMs, 30000, '${CHAT_TIMEOUT_MS} became the number 30000');
    assert.equal(stored.upstreams[0].targets[0].url, upstream.url);

    const again = await switchboard(['apply', path], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^no changes \(revision \d+, 3 items\)$/m, 'the stored JWT secret matches the file, though no export shows it');
    assert.equal((await switchboard(['diff', path], env)).code, 0);

    // A field change reads as its path, before → after; the gateway serves the new value.
    const edited = await file('pool-edited.yaml', poolYaml('45000', `      - url: "${upstream.url.replace('127.0.0.1', 'localhost')}"\n        weight: 3`));
    const diff = await switchboard(['diff', edited], env);
    assert.equal(diff.code, 2, diff.stderr);
    assert.match(diff.stdout, /^~ routes\/chat$/m);
    assert.match(diff.stdout, /^ {4}timeoutMs: 30000 → 45000$/m);
    assert.match(diff.stdout, /^~ upstreams\/gpus$/m);
    assert.match(diff.stdout, /^ {4}targets\[1\]: \+ \{"url":"http:\/\/localhost:\d+","weight":3/m);
    assert.match(diff.stdout, /0 to add, 2 to change, 0 to remove, 1 unchanged/);
    assert.equal((await switchboard(['apply', edited], env)).code, 2);
    assert.equal((await api('GET', '/config')).body.routes[0].timeoutMs, 45000);
  });

  test('apply --dry-run prints the plan, exits 2 and changes nothing', async () => {
    const before = await api('GET', '/config');
    const path = await file('dry.yaml', poolYaml('99000'));
    const result = await switchboard(['apply', path, '--dry-run'], { ACME_JWT_SECRET: SECRET });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stdout, /timeoutMs: \d+ → 99000/);
    assert.match(result.stdout, /dry run: nothing was changed/);
    const afterwards = await api('GET', '/config');
    assert.equal(afterwards.etag, before.etag, 'same revision');
    assert.deepEqual(afterwards.body, before.body);
  });

  test('a changed secret shows as changed without its value', async () => {
    const path = await file('secret.yaml', poolYaml('45000'));
    const result = await switchboard(['diff', path], { ACME_JWT_SECRET: 'a-different-secret-value-9876543210' });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stdout, /^ {4}jwt\[0\]\.secret: \(write-only value changed\)$/m);
    assert.doesNotMatch(result.stdout + result.stderr, /a-different-secret|acme-hmac-secret/);
  });

  test('a bad file exits 1 naming the problem, and nothing is changed', async () => {
    const before = (await api('GET', '/config')).etag;
    const cases: Array<{ name: string; text: string; env?: Record<string, string>; expect: RegExp }> = [
      { name: 'unset.yaml', text: poolYaml('${NOT_SET_TIMEOUT}'), env: { ACME_JWT_SECRET: SECRET }, expect: /line 12: environment variable NOT_SET_TIMEOUT is not set/ },
      { name: 'dangling.yaml', text: 'routes:\n  - { name: r, paths: ["/x"], upstream: nowhere }\n', expect: /routes\/0\/upstream|nowhere/ },
      { name: 'type.yaml', text: 'upstreams:\n  - { name: u, targets: [{ url: "http://127.0.0.1:1", weight: "heavy" }] }\n', expect: /upstreams\/0\/targets\/0\/weight/ },
      { name: 'syntax.yaml', text: 'routes: [\n', expect: /syntax\.yaml: / },
    ];
    for (const c of cases) {
      const path = await file(c.name, c.text);
      for (const command of [['diff', path], ['apply', path]]) {
        const result = await switchboard(command, c.env);
        assert.equal(result.code, 1, `${c.name}: ${command[0]} exits 1\n${result.stdout}${result.stderr}`);
        assert.match(result.stderr, c.expect, `${c.name}: ${command[0]} names the problem`);
      }
    }
    const missing = await switchboard(['diff', join(dir, 'no-such-file.yaml')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no-such-file\.yaml: ENOENT/);
    const usage = await switchboard(['apply']);
    assert.equal(usage.code, 1, 'a usage error is an error, not "changes"');
    assert.match(usage.stderr, /apply needs exactly one FILE/);
    assert.equal((await api('GET', '/config')).etag, before);
  });

  test('without a token, off a terminal, diff exits 1 saying how to give one; a bad token is named as such', async () => {
    const path = await file('pool-no-token.yaml', poolYaml('45000'));
    const none = await switchboard(['diff', path], { SWITCHBOARD_TOKEN: undefined, ACME_JWT_SECRET: SECRET });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /set SWITCHBOARD_TOKEN/);
    const bad = await switchboard(['diff', path], { SWITCHBOARD_TOKEN: 'not-a-token', ACME_JWT_SECRET: SECRET });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /refused the token/);
  });

  test('on a terminal with no token, apply asks for the email and password and signs in', async () => {
    const path = await file('pool-tty.yaml', poolYaml('46000'));
    // util-linux `script` gives the command a pseudo-terminal; what is written to it is typed there.
    const command = [process.execPath, join(root, 'bin/switchboard.js'), 'apply', path, '--admin', gateway.adminUrl].map((a) => `'${a}'`).join(' ');
    const result = await new Promise<CliResult>((resolve) => {
      const env: NodeJS.ProcessEnv = { ...process.env, ACME_JWT_SECRET: SECRET };
      delete env.SWITCHBOARD_TOKEN;
      const child = execFile('script', ['-qec', command, '/dev/null'], { env, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      let typed = false;
      child.stdout!.on('data', (chunk: Buffer) => {
        if (!typed && /email: /.test(chunk.toString())) {
          typed = true;
          child.stdin!.write(`${TEST_ADMIN.email}\r`);
          setTimeout(() => child.stdin!.write(`${TEST_ADMIN.password}\r`), 300);
        }
      });
    });
    assert.match(result.stdout, /email: /);
    assert.match(result.stdout, /password: /);
    assert.doesNotMatch(result.stdout, new RegExp(TEST_ADMIN.password), 'the password is not echoed');
    assert.match(result.stdout, /applied: revision \d+/, result.stdout + result.stderr);
    assert.equal(result.code, 2);
    assert.equal((await api('GET', '/config')).body.routes[0].timeoutMs, 46000);
  });
});
