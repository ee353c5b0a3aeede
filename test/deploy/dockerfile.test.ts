import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';
import { GATEWAY_GLIBC_TUNABLES, GATEWAY_V8_FLAGS } from '../../gateway/src/runtime-flags.js';
import { execForm, readDockerfile, stageEnv, type Stage } from './dockerfile.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DOCKERFILE = join(ROOT, 'docker/Dockerfile');
const run = promisify(execFile);

async function runtimeStage(): Promise<Stage> {
  const stages = await readDockerfile(DOCKERFILE);
  assert.ok(stages.length >= 2, 'a multi-stage build: one stage builds, the last one runs');
  return stages.at(-1)!;
}

const ops = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op);

test('the image runs as a user that is not root', async () => {
  const users = ops(await runtimeStage(), 'USER');
  assert.ok(users.length > 0, 'the runtime stage sets USER');
  const user = users.at(-1)!.args.split(':')[0]!.trim();
  assert.notEqual(user, 'root');
  assert.notEqual(user, '0');
});

test('the build stage installs devDependencies and builds; the image installs production dependencies only', async () => {
  const stages = await readDockerfile(DOCKERFILE);
  const build = stages[0]!;
  assert.ok(ops(build, 'RUN').some((r) => /npm ci\b/.test(r.args) && !/--omit=dev/.test(r.args)), 'the build stage runs npm ci with devDependencies (tsc, vite)');
  assert.ok(ops(build, 'RUN').some((r) => /npm run build/.test(r.args)));
  const runtime = stages.at(-1)!;
  const installs = ops(runtime, 'RUN').filter((r) => /npm (ci|install)\b/.test(r.args));
  assert.equal(installs.length, 1);
  assert.match(installs[0]!.args, /npm ci --omit=dev/);
  // Sources and devDependencies never reach the image: only compiled output is copied from the build.
  for (const copy of ops(runtime, 'COPY')) {
    if (copy.args.startsWith('--from=')) assert.match(copy.args, /^--from=build \/app\/(dist\/(gateway|plugins|spec)|admin-ui\/dist|bin) /);
    else assert.match(copy.args, /^package\.json package-lock\.json \.\/$/, `only the manifests come from the context: ${copy.args}`);
  }
});

test('node runs directly under tini, so SIGTERM reaches the gateway; one worker per CPU by default', async () => {
  const runtime = await runtimeStage();
  assert.equal(stageEnv(runtime).WORKERS, 'auto');
  assert.ok(ops(runtime, 'RUN').some((r) => /apt-get install .*\btini\b/.test(r.args)));
  assert.deepEqual(execForm(ops(runtime, 'ENTRYPOINT').at(-1)!.args), ['/usr/bin/tini', '--']);
  const cmd = execForm(ops(runtime, 'CMD').at(-1)!.args);
  assert.equal(cmd[0], 'node', 'the node binary itself, not npm (which would not forward signals)');
  assert.equal(cmd.at(-1), 'dist/gateway/src/main.js');
});

test("the image and npm start run the gateway with runtime-flags.ts' V8 flags and malloc setting, as switchboard start does", async () => {
  // runtime-flags.ts is where they are measured and explained; the image and package.json spell them out.
  const runtime = await runtimeStage();
  const cmd = execForm(ops(runtime, 'CMD').at(-1)!.args);
  assert.deepEqual(cmd.slice(1, -1), [...GATEWAY_V8_FLAGS], "the image's CMD");
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
  assert.equal(pkg.scripts.start, `GLIBC_TUNABLES=\${GLIBC_TUNABLES:-${GATEWAY_GLIBC_TUNABLES}} exec node ${GATEWAY_V8_FLAGS.join(' ')} dist/gateway/src/main.js`, 'npm start');
  assert.equal(stageEnv(runtime).GLIBC_TUNABLES, GATEWAY_GLIBC_TUNABLES, "the image's malloc setting");
});

test('the health check asks /readyz', async () => {
  const check = ops(await runtimeStage(), 'HEALTHCHECK').at(-1)!;
  const cmd = execForm(check.args.replace(/^.*?CMD\s+/, ''));
  assert.equal(cmd[0], 'node');
  assert.match(cmd.join(' '), /\/readyz/);
});

/**
 * The packages `npm ci --omit=dev` installs, as top-level names (the image's node_modules);
 * `npm ls` reads the same lockfile the image's install does.
 */
async function productionPackages(): Promise<string[]> {
  const { stdout } = await run('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, maxBuffer: 16 << 20 }).catch((err: { stdout: string }) => ({ stdout: err.stdout }));
  const top = new Set<string>();
  for (const line of stdout.split('\n')) {
    const rel = relative(join(ROOT, 'node_modules'), line);
    if (rel.startsWith('..') || rel === '' || rel.includes('node_modules')) continue;
    if (rel === 'node') continue; // the Dockerfile removes it: the base image's node runs
    top.add(rel);
  }
  return [...top];
}

test("the image's start command serves from the image's files alone, production dependencies only", { timeout: 90_000 }, async (t) => {
  const runtime = await runtimeStage();
  const app = await mkdtemp(join(tmpdir(), 'sb-image-'));
  t.after(() => rm(app, { recursive: true, force: true }));
  // The runtime stage's file set, laid out as in /app.
  for (const copy of ops(runtime, 'COPY').filter((c) => c.args.startsWith('--from=build'))) {
    const [, from, to] = /^--from=build \/app\/(\S+) \.\/(\S+)$/.exec(copy.args)!;
    await cp(join(ROOT, from!), join(app, to!), { recursive: true });
  }
  await cp(join(ROOT, 'package.json'), join(app, 'package.json'));
  for (const name of await productionPackages()) {
    await mkdir(dirname(join(app, 'node_modules', name)), { recursive: true });
    await symlink(join(ROOT, 'node_modules', name), join(app, 'node_modules', name));
  }
  const store = join(app, 'data', 'switchboard.json');
  await mkdir(dirname(store), { recursive: true });

  const [bin, ...args] = execForm(ops(runtime, 'CMD').at(-1)!.args);
  assert.equal(bin, 'node');
  const env = { ...stageEnv(runtime), STORE_URL: `file:${store}`, HOST: '127.0.0.1', PORT: '0', ADMIN_HOST: '127.0.0.1', ADMIN_PORT: '0', DEMO: '0', ADMIN_EMAIL: 'ops@example.test', ADMIN_PASSWORD: 'image-start-password', DRAIN_DELAY_MS: '200', PATH: process.env.PATH ?? '' };
  const child = spawn(process.execPath, args, { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  });
  const deadline = Date.now() + 60_000;
  while (!/partner traffic\s+(\S+)/.test(out)) {
    assert.equal(child.exitCode, null, `the start command exited: ${out}`);
    assert.ok(Date.now() < deadline, `no banner within 60 s: ${out}`);
    await sleep(50);
  }
  const publicUrl = /partner traffic\s+(\S+)/.exec(out)![1]!.replace(/\/$/, '');
  const port = new URL(publicUrl).port;

  // The HEALTHCHECK command, run as the engine would (node from PATH, the container's env).
  const check = execForm(ops(runtime, 'HEALTHCHECK').at(-1)!.args.replace(/^.*?CMD\s+/, ''));
  const ready = await fetch(`${publicUrl}/readyz`);
  if (ready.status === 404) {
    // /readyz arrives with the lifecycle work (WORKERS, drain); until then /healthz answers.
    t.diagnostic('this build does not serve /readyz yet; checked /healthz instead');
    assert.equal((await fetch(`${publicUrl}/healthz`)).status, 200);
  } else {
    assert.equal(ready.status, 200);
    const result = await run(process.execPath, check.slice(1), { env: { ...env, PORT: port } }).then(
      () => 0,
      (err: { code: number }) => err.code,
    );
    assert.equal(result, 0, 'the HEALTHCHECK command reports healthy');
  }

  // `docker stop` sends SIGTERM to tini, which passes it to this process: it drains and exits 0.
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0, `exit code after SIGTERM\n${out}`);
});
