import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mirrorSources } from './source-mirror.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruiser.mjs');

/** dependency-cruiser over a mirror of gateway/, plugins/ and spec/ (see source-mirror.ts for why a mirror). */
function cruise(dir: string): { status: number | null; output: string } {
  const run = spawnSync(process.execPath, [DEPCRUISE, '--config', CONFIG, '--output-type', 'err', 'gateway', 'plugins', 'spec'], {
    cwd: dir,
    encoding: 'utf8',
  });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

async function mirror(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-layers-'));
  const count = await mirrorSources(ROOT, ['gateway', 'plugins', 'spec'], dir);
  assert.ok(count > 100, `only ${count} source files mirrored`);
  return dir;
}

test('the request path runs one way: no import cycles and no import from a lower layer to a higher one', async (t) => {
  const dir = await mirror();
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { status, output } = cruise(dir);
  assert.equal(status, 0, `dependency-cruiser (.dependency-cruiser.cjs) found violations:\n${output}`);
  assert.match(output, /no dependency violations found \((\d{3,}) modules/, output);
});

test('the check catches an upward import and an import cycle', async (t) => {
  const dir = await mirror();
  t.after(() => rm(dir, { recursive: true, force: true }));
  // The balancer reaching up into the proxy, spec into the gateway, and a proxy ⇄ balancer loop.
  await appendFile(join(dir, 'gateway/src/balancer/picker.js'), "\nimport '../proxy/exchange.js';\n");
  await appendFile(join(dir, 'spec/route.js'), "\nimport '../gateway/src/errors.js';\n");
  const { status, output } = cruise(dir);
  assert.notEqual(status, 0, output);
  assert.match(output, /layer-balancer: gateway\/src\/balancer\/picker\.js → gateway\/src\/proxy\/exchange\.js/);
  assert.match(output, /layer-spec: spec\/route\.js → gateway\/src\/errors\.js/);
  assert.match(output, /no-circular/);
});

test('type-only imports count: the mirror keeps them as imports', async () => {
  const { keepTypeImports } = await import('./source-mirror.js');
  assert.equal(keepTypeImports("import type { A } from './a.js';"), "import { A } from './a.js';");
  assert.equal(keepTypeImports("import { type A, b } from './a.js';"), "import { A, b } from './a.js';");
  assert.equal(keepTypeImports("export type { A } from './a.js';"), "export { A } from './a.js';");
  assert.equal(keepTypeImports('export type Name = string;'), 'export type Name = string;');
  // dependency-cruiser itself is installed and is the version the config was written for.
  const version = (createRequire(import.meta.url)(join(ROOT, 'node_modules/dependency-cruiser/package.json')) as { version: string }).version;
  assert.match(version, /^18\./);
});
