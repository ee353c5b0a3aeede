import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { FileStore } from '../../gateway/src/store/file-store.js';
import type { Route } from '../../spec/route.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';

const root = new URL('../../../', import.meta.url).pathname;
const fixture = (name: string) => join(root, 'test/docs/fixtures', name);

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The real `switchboard` command, as an operator runs it. */
function switchboard(args: string[], storePath: string): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(root, 'bin/switchboard.js'), ...args], { env: { ...process.env, STORE_URL: `file:${storePath}` }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const baseConfig = (upstreamUrl: string) => ({
  upstreams: [{ name: 'vision', targets: [{ url: upstreamUrl }] }],
  routes: [{ name: 'existing', methods: ['GET'], paths: ['/existing'], upstream: 'vision' }],
  consumers: [{ name: 'acme' }],
});

/** What import-openapi decides about a route (the rest is defaults). */
const essence = (r: Route) => ({ name: r.name, methods: r.methods, paths: r.paths, upstream: r.upstream, auth: r.auth, stripPrefix: r.stripPrefix, schema: r.schema, docs: r.docs });

let upstream: EchoUpstream;
let gw: TestGateway;
let key: string;
let dir: string;

before(async () => {
  upstream = await startEchoUpstream('vision');
  gw = await startGateway(baseConfig(upstream.url));
  key = (await issueKey(gw.store, 'acme', { actor: 'test' })).key;
  dir = await mkdtemp(join(tmpdir(), 'sb-import-openapi-'));
});

after(async () => {
  await gw.close();
  await upstream.close();
  await rm(dir, { recursive: true, force: true });
});

const imported = async () => (await gw.store.read()).routes.filter((r) => r.name.startsWith('vision.'));

test('a partner OpenAPI 3.1 YAML file with $refs becomes routes: paths, methods, schemas and docs', async () => {
  const result = await switchboard(['import-openapi', fixture('acme-vision.openapi.yaml'), '--upstream', 'vision', '--prefix', '/acme'], gw.storePath);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /6 created/);
  assert.match(result.stderr, /path parameter "job-id" is called "job_id"/);

  const routes = new Map((await imported()).map((r) => [r.name, r] as const));
  assert.deepEqual([...routes.keys()].sort(), [
    'vision.acme.createImage',
    'vision.acme.deleteImage',
    'vision.acme.get.health',
    'vision.acme.getImage',
    'vision.acme.getJobStatus',
    'vision.acme.listImages',
  ]);
  const create = routes.get('vision.acme.createImage')!;
  assert.deepEqual(create.methods, ['POST']);
  assert.deepEqual(create.paths, ['/acme/v2/images'], 'prefix + the server URL base path + the path');
  assert.equal(create.stripPrefix, '/acme');
  assert.equal(create.auth, 'api-key', 'secure by default');
  assert.deepEqual(create.docs, { public: true, summary: 'Submit an image for tagging', description: 'The image is fetched from `url` and tagged asynchronously.', tags: ['images'] });
  const body = create.schema!.body as any;
  assert.deepEqual(body.required, ['url']);
  assert.equal(body.properties.tags.items.pattern, '^[a-z][a-z0-9-]*$', 'the $ref to Tag is resolved');
  assert.equal(body.properties.tags.items.example, undefined, 'annotations a validator ignores are dropped');
  assert.deepEqual((create.schema!.headers as any).required, ['x-acme-tenant']);

  assert.deepEqual(routes.get('vision.acme.getImage')!.paths, ['/acme/v2/images/:imageId'], 'path-item parameters apply');
  assert.deepEqual(routes.get('vision.acme.getJobStatus')!.paths, ['/acme/v2/jobs/:job_id/status']);
  const list = routes.get('vision.acme.listImages')!;
  assert.deepEqual(Object.keys((list.schema!.querystring as any).properties), ['limit', 'cursor']);
  assert.equal((list.schema!.querystring as any).properties.cursor.description, 'Opaque cursor from the previous page.');
});

test('imported routes serve through the gateway and validate what the file says', async () => {
  const revision = (await gw.store.read()).revision;
  await waitFor(() => gw.node.revision >= revision, 5000, 'import in force');

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${gw.url}/acme/v2/images`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json', 'x-acme-tenant': 't1', ...headers }, body: JSON.stringify(body) });

  const ok = await post({ url: 'https://img.example/dog.jpg', tags: ['dog'], priority: 3 });
  assert.equal(ok.status, 200, await ok.clone().text());
  const echoed = (await ok.json()) as { url: string; headers: Record<string, string> };
  assert.equal(echoed.url, '/v2/images', 'the prefix is stripped; the base path stays');
  assert.equal(echoed.headers['x-api-key'], undefined);

  const bad = await post({ url: 'https://img.example/dog.jpg', tags: ['Not A Tag'], priority: 12, colour: 'red' });
  assert.equal(bad.status, 400);
  const paths = ((await bad.json()) as { errors: Array<{ path: string }> }).errors.map((e) => e.path).sort();
  assert.deepEqual(paths, ['/body/colour', '/body/priority', '/body/tags/0']);

  const noTenant = await fetch(`${gw.url}/acme/v2/images`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: '{"url":"https://x.example/a"}' });
  assert.equal(noTenant.status, 400);
  assert.match(await noTenant.text(), /x-acme-tenant/);

  const tooMany = await fetch(`${gw.url}/acme/v2/images?limit=500`, { headers: { 'x-api-key': key } });
  assert.equal(tooMany.status, 400);
  await tooMany.text();
  const page = await fetch(`${gw.url}/acme/v2/images?limit=5`, { headers: { 'x-api-key': key } });
  assert.equal(page.status, 200);
  await page.text();

  const anonymous = await fetch(`${gw.url}/acme/v2/images/img_abc`);
  assert.equal(anonymous.status, 401);
  await anonymous.text();
  const one = await fetch(`${gw.url}/acme/v2/images/img_abc?size=thumb`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(one.status, 200);
  assert.equal(((await one.json()) as { url: string }).url, '/v2/images/img_abc?size=thumb');
});

test('importing the same file again replaces nothing and duplicates nothing', async () => {
  const before = await gw.store.read();
  const again = await switchboard(['import-openapi', fixture('acme-vision.openapi.yaml'), '--upstream', 'vision', '--prefix', '/acme'], gw.storePath);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /0 created; 0 replaced; 6 unchanged/);
  const after = await gw.store.read();
  assert.equal(after.revision, before.revision, 'no new revision');
  assert.equal(after.routes.length, before.routes.length);
});

test('what cannot be mapped is named, each thing at once, and nothing is saved', async () => {
  const before = await gw.store.read();
  const result = await switchboard(['import-openapi', fixture('unmappable.openapi.yaml'), '--upstream', 'vision'], gw.storePath);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /cannot import the OpenAPI document \(3 problems\)/);
  assert.match(result.stderr, /POST \/uploads requestBody: multipart\/form-data bodies cannot be validated/);
  assert.match(result.stderr, /GET \/session parameter "sid" \(in cookie\): cookie parameters cannot be validated/);
  assert.match(result.stderr, /GET \/tiles\/\{x\}\{y\}: two path parameters with nothing between them/);
  assert.doesNotMatch(result.stderr, /\/fine/);
  const after = await gw.store.read();
  assert.equal(after.revision, before.revision);
  assert.ok(!after.routes.some((r) => r.name.endsWith('.fine')), 'the mappable operation was not saved either');
});

test('an unknown upstream, a Swagger 2.0 file, a missing file and a path served twice are clear errors', async () => {
  const before = await gw.store.read();
  const unknown = await switchboard(['import-openapi', fixture('acme-vision.openapi.yaml'), '--upstream', 'nope'], gw.storePath);
  assert.equal(unknown.code, 1, unknown.stderr);
  assert.match(unknown.stderr, /--upstream: upstream "nope" does not exist \(the store has vision\); create it first/);

  const swagger2 = join(dir, 'swagger2.json');
  await writeFile(swagger2, JSON.stringify({ swagger: '2.0', info: { title: 'old', version: '1' }, paths: {} }));
  const old = await switchboard(['import-openapi', swagger2, '--upstream', 'vision'], gw.storePath);
  assert.equal(old.code, 1, old.stderr);
  assert.match(old.stderr, /must be an OpenAPI 3\.0 or 3\.1 document \(found Swagger 2\.0\)/);

  const missing = await switchboard(['import-openapi', join(dir, 'absent.yaml'), '--upstream', 'vision'], gw.storePath);
  assert.equal(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, /absent\.yaml/);

  const clash = join(dir, 'clash.json');
  await writeFile(clash, JSON.stringify({ openapi: '3.0.3', info: { title: 'c', version: '1' }, paths: { '/existing': { get: { operationId: 'mine', responses: { 200: { description: 'ok' } } } } } }));
  const twice = await switchboard(['import-openapi', clash, '--upstream', 'vision'], gw.storePath);
  assert.equal(twice.code, 1, twice.stderr);
  assert.match(twice.stderr, /GET \/existing is already served by route "existing"/);

  const usage = await switchboard(['import-openapi', fixture('acme-vision.openapi.yaml')], gw.storePath);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /needs --upstream NAME/);
  assert.equal((await gw.store.read()).revision, before.revision, 'nothing was saved by any of them');
});

test('OpenAPI 3.0 nullable and boolean exclusiveMinimum become JSON Schema', async () => {
  const file = join(dir, 'v30.json');
  await writeFile(
    file,
    JSON.stringify({
      openapi: '3.0.3',
      info: { title: 'v30', version: '1' },
      paths: {
        '/v30/things': {
          post: {
            operationId: 'makeThing',
            requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { note: { type: 'string', nullable: true }, score: { type: 'number', minimum: 0, exclusiveMinimum: true } } } } } },
            responses: { 200: { description: 'ok' } },
          },
        },
      },
    }),
  );
  const result = await switchboard(['import-openapi', file, '--upstream', 'vision', '--auth', 'none', '--dry-run'], gw.storePath);
  assert.equal(result.code, 0, result.stderr);
  const [route] = (JSON.parse(result.stdout) as { routes: Route[] }).routes;
  assert.deepEqual((route!.schema!.body as any).properties, { note: { type: ['string', 'null'] }, score: { type: 'number', exclusiveMinimum: 0 } });
  assert.equal(route!.auth, 'none');
});

test('export → import round-trips the imported routes, through the CLI and through /docs/openapi.json', async () => {
  const original = (await imported()).map(essence).sort((a, b) => a.name.localeCompare(b.name));

  // 1. `switchboard export` → `switchboard import` into an empty store.
  const exported = await switchboard(['export'], gw.storePath);
  assert.equal(exported.code, 0, exported.stderr);
  const exportFile = join(dir, 'export.json');
  await writeFile(exportFile, exported.stdout);
  const copyPath = join(dir, 'copy.json');
  const reimported = await switchboard(['import', exportFile], copyPath);
  assert.equal(reimported.code, 0, reimported.stderr);
  const copy = new FileStore(copyPath);
  await copy.open();
  const copied = (await copy.read()).routes.filter((r) => r.name.startsWith('vision.')).map(essence).sort((a, b) => a.name.localeCompare(b.name));
  await copy.close();
  assert.deepEqual(copied, original);

  // 2. The portal's own document, imported again, gives the same routes back.
  const doc = await (await fetch(`${gw.url}/docs/openapi.json`)).text();
  const docFile = join(dir, 'portal.json');
  await writeFile(docFile, doc);
  const freshPath = join(dir, 'fresh.json');
  const fresh = new FileStore(freshPath);
  await fresh.open();
  await replaceConfig(fresh, { upstreams: [{ name: 'vision', targets: [{ url: upstream.url }] }], routes: [], consumers: [] }, 'test');
  await fresh.close();
  const fromDocs = await switchboard(['import-openapi', docFile, '--upstream', 'vision'], freshPath);
  assert.equal(fromDocs.code, 0, fromDocs.stderr);
  const again = new FileStore(freshPath);
  await again.open();
  const roundTripped = (await again.read()).routes.filter((r) => r.name.startsWith('vision.')).map(essence).sort((a, b) => a.name.localeCompare(b.name));
  await again.close();
  assert.deepEqual(roundTripped, original);
});

test("routes an earlier import made that a newer file no longer has are kept and named", async () => {
  const file = join(dir, 'smaller.json');
  await writeFile(
    file,
    JSON.stringify({
      openapi: '3.1.0',
      info: { title: 'Acme Vision API', version: '3.0.0' },
      servers: [{ url: 'https://vision.acme.example/v2' }],
      paths: { '/images': { get: { operationId: 'listImages', summary: 'List images', responses: { 200: { description: 'ok' } } } } },
    }),
  );
  const result = await switchboard(['import-openapi', file, '--upstream', 'vision', '--prefix', '/acme'], gw.storePath);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /0 created; 1 replaced: vision\.acme\.listImages/);
  assert.match(result.stderr, /not in .*smaller\.json, kept: .*vision\.acme\.createImage/);
  assert.doesNotMatch(result.stderr, /kept: .*listImages/);
  assert.equal((await imported()).length, 6, 'nothing deleted');
});

test('a recursive schema and a $ref to a URL are refused by name; $refs to local files are followed', async () => {
  const node = join(dir, 'node.yaml');
  await writeFile(node, 'type: object\nproperties:\n  child: { $ref: "./node.yaml" }\n');
  const leaf = join(dir, 'leaf.yaml');
  await writeFile(leaf, 'type: object\nrequired: [id]\nproperties:\n  id: { type: string }\n');
  const doc = (ref: string) =>
    JSON.stringify({ openapi: '3.1.0', info: { title: 'r', version: '1' }, paths: { '/r': { post: { operationId: 'r', requestBody: { content: { 'application/json': { schema: { $ref: ref } } } }, responses: { 200: { description: 'ok' } } } } } });
  const file = join(dir, 'refs.json');

  await writeFile(file, doc('./node.yaml'));
  const recursive = await switchboard(['import-openapi', file, '--upstream', 'vision', '--dry-run'], gw.storePath);
  assert.equal(recursive.code, 1);
  assert.match(recursive.stderr, /Circular \$ref .*\(a recursive schema cannot be a route schema/);

  await writeFile(file, doc('http://127.0.0.1:9/schema.json'));
  const remote = await switchboard(['import-openapi', file, '--upstream', 'vision', '--dry-run'], gw.storePath);
  assert.equal(remote.code, 1);
  assert.match(remote.stderr, /Unable to resolve \$ref pointer "http:\/\/127\.0\.0\.1:9\/schema\.json"/);

  await writeFile(file, doc('./leaf.yaml'));
  const local = await switchboard(['import-openapi', file, '--upstream', 'vision', '--dry-run'], gw.storePath);
  assert.equal(local.code, 0, local.stderr);
  assert.deepEqual((JSON.parse(local.stdout) as { routes: Route[] }).routes[0]!.schema!.body, { type: 'object', required: ['id'], properties: { id: { type: 'string' } } });
});
