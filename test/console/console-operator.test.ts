import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { makeCertificate, type TestCertificate } from '../edge/test-certs.js';
import { assertAccessible, launchBrowser, openPage, PageWatch, shoot, signIn, startConsoleStack, waitUntil, type ConsoleStack } from './console-harness.js';

/**
 * An operator's day in the console, in order, on one real gateway with two simulated GPU
 * workers: sign in, build an upstream and a route with the forms, see traffic, lose a worker,
 * drain another, give a partner a key. Every page is photographed at 1280 and 390 px and
 * scanned with axe; any browser console error fails the file.
 */
let stack: ConsoleStack;
let browser: Browser;
let page: Page;
let watch: PageWatch;
let cert: TestCertificate;
const HEALTH_INTERVAL_MS = 1000;

before(async () => {
  cert = makeCertificate({ cn: 'api.partner.test' });
  // With a TLS listener, so that the certificates page shows what it serves.
  stack = await startConsoleStack(2, { tlsPort: 0 });
  browser = await launchBrowser();
  page = await openPage(browser);
  watch = new PageWatch(page);
});

after(async () => {
  await browser?.close();
  await stack?.close();
  cert?.cleanup();
});

const visit = async (link: string, heading: string | RegExp) => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link, exact: true }).click();
  await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
};

test('the admin listener serves the console at / and the sign-in screen passes axe', async () => {
  const response = await page.goto(stack.adminUrl);
  assert.equal(response?.status(), 200);
  await page.getByRole('heading', { name: 'Sign in to Switchboard' }).waitFor();
  await shoot(page, 'sign-in');
  await assertAccessible(page, 'sign-in');
});

test('an admin signs in with email and password and lands on the overview', async () => {
  await signIn(page, stack.adminUrl);
  assert.match(await page.locator('.who').innerText(), /root@example\.test/);
  const stored = await page.evaluate(() => ({ local: Object.keys(localStorage), session: Object.keys(sessionStorage) }));
  assert.deepEqual(stored.local, [], 'the token is never kept in localStorage');
  assert.deepEqual(stored.session, ['switchboard.session']);
});

test('an upstream with an active health check is created through the generated form', async () => {
  const [a, b] = stack.workers;
  await visit('Upstreams', 'Upstreams');
  await page.getByRole('link', { name: 'New upstream' }).click();
  await page.getByRole('heading', { name: 'New upstream' }).waitFor();
  await page.locator('#upstreams-form_name').fill('gpus');
  await page.locator('#upstreams-form_algorithm').selectOption('least-connections');
  await page.locator('#upstreams-form_targets_0_url').fill(a!.url);
  await page.locator('#upstreams-form_targets__add').click();
  await page.locator('#upstreams-form_targets_1_url').fill(b!.url);
  await page.locator('#upstreams-form_healthCheck__optionalAdd').click();
  // Adding the section brings both checks; passive ejection is opt-in, so take it out again.
  await page.locator('#upstreams-form_healthCheck_passive__optionalRemove').click();
  await page.locator('#upstreams-form_healthCheck_active_intervalMs').fill(String(HEALTH_INTERVAL_MS));
  await page.locator('#upstreams-form_healthCheck_active_unhealthyThreshold').fill('1');
  // One failed probe is enough to see a dead worker fast; one good probe brings back a worker
  // that a loaded test machine made answer a probe late (the probe timeout stays at its 1 s default).
  await page.locator('#upstreams-form_healthCheck_active_healthyThreshold').fill('1');
  await shoot(page, 'upstream-new');
  await assertAccessible(page, 'upstream-new');
  const create = page.getByRole('button', { name: 'Create upstream' });
  assert.equal(await create.isDisabled(), true, 'Save waits for Validate');
  await page.getByRole('button', { name: 'Validate' }).click();
  await page.getByText('Valid: the server would accept this upstream.').waitFor();
  await create.click();
  await page.getByRole('heading', { name: /Upstream gpus/ }).waitFor();
  const saved = await stack.api('GET', '/upstreams/gpus', { token: await stack.adminToken() });
  assert.equal(saved.status, 200);
  assert.equal(saved.body.algorithm, 'least-connections');
  assert.deepEqual(saved.body.targets.map((t: { url: string }) => t.url), [a!.url, b!.url]);
  assert.equal(saved.body.healthCheck.active.intervalMs, HEALTH_INTERVAL_MS);
  assert.equal(saved.body.hashOn, undefined, 'optional sections the user did not add stay absent');
  assert.equal(saved.body.sticky, undefined);
  assert.equal(saved.body.healthCheck.passive, undefined, 'a removed section is not sent');
});

test('a route with API-key auth is created through the form, after a server dry run', async () => {
  await visit('Routes', 'Routes');
  await page.getByRole('link', { name: 'New route' }).click();
  await page.getByRole('heading', { name: 'New route' }).waitFor();
  await page.locator('#routes-form_name').fill('chat');
  await page.locator('#routes-form_paths_0').fill('/v1/*');
  await page.locator('#routes-form_upstream').fill('gpus');
  await page.locator('#routes-form_auth').selectOption('api-key');
  await page.getByRole('button', { name: 'Validate' }).click();
  await page.getByText('Valid: the server would accept this route.').waitFor();
  await page.getByRole('button', { name: 'Create route' }).click();
  await page.getByRole('heading', { name: /Route chat/ }).waitFor();
  await shoot(page, 'route-edit');
  await assertAccessible(page, 'route-edit');
  await page.getByRole('button', { name: 'YAML', exact: true }).click();
  assert.match(await page.getByLabel('Raw YAML of this route').inputValue(), /^upstream: gpus$/m, 'the same item as YAML');
  await shoot(page, 'route-yaml');
  await page.getByRole('button', { name: 'JSON', exact: true }).click();
  const json = JSON.parse(await page.getByLabel('Raw JSON of this route').inputValue());
  assert.deepEqual([json.name, json.auth, json.paths], ['chat', 'api-key', ['/v1/*']]);
  await page.getByRole('button', { name: 'Form', exact: true }).click();
  await visit('Routes', 'Routes');
  await page.getByRole('cell', { name: '/v1/*' }).waitFor();
  await shoot(page, 'routes');
  await assertAccessible(page, 'routes');
  await page.getByLabel('Auth').selectOption('none');
  await page.getByText('0 of 1 routes').waitFor();
  await page.getByLabel('Auth').selectOption('api-key');
  await page.getByLabel('Search').fill('v1');
  await page.getByText('1 of 1 routes').waitFor();
  assert.match(page.url(), /auth=api-key/, 'filters are kept in the URL');
});

let key: string;
test('a key issued in the console is shown once, with a warning, and works through the gateway', async () => {
  await visit('Consumers', 'Consumers');
  await page.getByRole('link', { name: 'New consumer' }).click();
  await page.locator('#consumers-form_name').fill('acme');
  await page.getByRole('button', { name: 'Create consumer' }).click();
  await page.getByRole('heading', { name: /Consumer acme/ }).waitFor();
  await page.getByRole('button', { name: 'Issue a key' }).click();
  await page.getByText('it will not be shown again').waitFor();
  key = await page.getByTestId('issued-key').inputValue();
  assert.match(key, /^sb_/);
  await page.getByRole('button', { name: 'Copy' }).waitFor();
  await shoot(page, 'consumer-key-issued');
  await assertAccessible(page, 'consumer-key-issued');
  await page.getByRole('button', { name: 'I have stored it' }).click();
  assert.equal(await page.getByTestId('issued-key').count(), 0, 'the key is gone from the page once dismissed');
  assert.equal((await page.content()).includes(key), false);

  await waitUntil(async () => stack.node.revision >= (await stack.store.read()).revision, 5000, 'the route in force');
  // On a loaded machine a probe can answer late; this test is about the key, so start from a healthy pool.
  await waitUntil(() => stack.node.upstreams.get('gpus')!.members.every((m) => m.target.isUp()), 10_000, 'both workers healthy');
  const refused = await fetch(`${stack.gatewayUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"m","messages":[{"role":"user","content":"hi"}]}' });
  assert.equal(refused.status, 401, 'the route wants a key');
  await refused.text();
  const answered = await fetch(`${stack.gatewayUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: '{"model":"m","messages":[{"role":"user","content":"hi"}]}' });
  assert.equal(answered.status, 200, await answered.text());

  // Rotation with a grace period: a new key at once, the old one keeps working meanwhile.
  await page.getByLabel('Rotation grace (seconds)').fill('600');
  await page.getByRole('row', { name: /active/ }).getByRole('button', { name: 'Rotate' }).click();
  const rotated = await page.getByTestId('issued-key').inputValue();
  assert.notEqual(rotated, key);
  await page.getByRole('button', { name: 'I have stored it' }).click();
  await waitUntil(async () => stack.node.revision >= (await stack.store.read()).revision, 5000, 'the rotation in force');
  for (const k of [key, rotated]) {
    const r = await fetch(`${stack.gatewayUrl}/v1/models`, { headers: { 'x-api-key': k } });
    assert.equal(r.status, 200, `key ${k.slice(0, 12)}… during the grace period`);
    await r.text();
  }
  key = rotated;
  await visit('Consumers', 'Consumers');
  await shoot(page, 'consumers');
  await assertAccessible(page, 'consumers');
});

test('traffic sent through the gateway shows on the overview within two seconds', async () => {
  await visit('Overview', 'Overview');
  const sent = 40;
  await Promise.all(
    Array.from({ length: sent }, async () => {
      const r = await fetch(`${stack.gatewayUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: '{"model":"m","messages":[{"role":"user","content":"hi"}]}' });
      await r.text();
    }),
  );
  const started = Date.now();
  const row = page.getByTestId('traffic-chat');
  await waitUntil(async () => (await row.count()) > 0 && Number(await row.locator('.requests').innerText()) >= sent, 2500, 'the overview to count the requests');
  assert.ok(Date.now() - started <= 2500);
  await page.getByText('Requests per second').waitFor();
  assert.equal(await page.locator('.chart canvas').count() >= 3, true, 'three charts are drawn');
  assert.match(await page.getByTestId('pool-gpus').innerText(), /2\/2 healthy/);
  assert.equal(await page.getByTestId('revision').innerText(), String(stack.node.revision));
  await shoot(page, 'overview');
  await assertAccessible(page, 'overview');
});

test('a stopped worker turns unhealthy on the upstream page within the check interval plus 2 s', async () => {
  await visit('Upstreams', 'Upstreams');
  await shoot(page, 'upstreams');
  await assertAccessible(page, 'upstreams');
  await page.getByRole('link', { name: 'gpus' }).click();
  const b = stack.workers[1]!;
  const row = page.getByTestId(`target-${b.url}`);
  await row.locator('.state', { hasText: 'healthy' }).waitFor();
  const killed = Date.now();
  await b.kill();
  await row.locator('.state', { hasText: 'unhealthy' }).waitFor({ timeout: HEALTH_INTERVAL_MS * 1.1 + 2000 });
  const took = Date.now() - killed;
  assert.ok(took <= HEALTH_INTERVAL_MS * 1.1 + 2000, `turned unhealthy after ${took} ms`);
  assert.match(await row.innerText(), /failed/, 'the last check result is shown');
});

test('an operator drains a target from the console and undrains it', async () => {
  const a = stack.workers[0]!;
  const row = page.getByTestId(`target-${a.url}`);
  await row.getByRole('button', { name: 'Drain' }).click();
  await row.locator('.state', { hasText: 'draining' }).waitFor();
  const stored = await stack.api('GET', '/upstreams/gpus', { token: await stack.adminToken() });
  assert.equal(stored.body.targets[0].draining, true, 'a drain is a configuration change every node applies');
  await shoot(page, 'upstream-detail');
  await assertAccessible(page, 'upstream-detail');
  await row.getByRole('button', { name: 'Undrain' }).click();
  await row.locator('.state', { hasText: 'healthy' }).waitFor();
  await row.getByLabel(`New weight of ${a.url}`).fill('7');
  await row.getByRole('button', { name: 'Set weight' }).click();
  await page.getByText(`Weight of ${a.url} set to 7.`).waitFor();
  assert.equal((await stack.api('GET', '/upstreams/gpus', { token: await stack.adminToken() })).body.targets[0].weight, 7);
});

test('the audit log shows each change as a field-by-field difference', async () => {
  await visit('Audit', 'Audit log');
  const first = page.locator('ol.audit li').first();
  assert.match(await first.innerText(), /update upstream gpus/);
  await first.getByRole('button').click();
  await first.locator('table.diff').waitFor();
  assert.match(await first.locator('table.diff').innerText(), /\/targets\/0\/weight\s+1\s+7/);
  await shoot(page, 'audit');
  await assertAccessible(page, 'audit');
});

test('a revision is restored only after a confirmation', async () => {
  await visit('Revisions', 'Revisions');
  const before = (await stack.store.read()).revision;
  const second = page.locator('tbody tr').nth(1);
  await second.getByRole('button', { name: 'Restore…' }).click();
  await shoot(page, 'revisions');
  await assertAccessible(page, 'revisions');
  assert.equal((await stack.store.read()).revision, before, 'nothing happens before the confirmation');
  await second.getByRole('button', { name: 'Yes, restore' }).click();
  await page.getByText(/Restored revision \d+ as new revision/).waitFor();
  assert.equal((await stack.store.read()).revision, before + 1);
});

test('the users page creates a user from the form, changes its role, and refuses to remove the last admin, saying why', async () => {
  await visit('Users', 'Users');
  await page.getByRole('button', { name: 'New user' }).click();
  await page.locator('#users-form_email').fill('ed@example.test');
  await page.locator('#users-form_role').selectOption('editor');
  await page.locator('#users-form_password').fill('editor password 1');
  await page.getByRole('button', { name: 'Validate' }).click();
  await page.getByRole('button', { name: 'Create user' }).click();
  await page.getByText('Created ed@example.test.').waitFor();
  const ed = page.getByRole('row', { name: /ed@example\.test/ });
  await ed.getByLabel('Role of ed@example.test').selectOption('viewer');
  await ed.getByRole('button', { name: 'Save role' }).click();
  await page.getByText('ed@example.test is now viewer.').waitFor();
  const row = page.getByRole('row', { name: /root@example\.test/ });
  watch.expectStatus(409);
  await row.getByRole('button', { name: 'Remove' }).click();
  await row.getByRole('button', { name: 'Yes, remove' }).click();
  await page.getByRole('alert').filter({ hasText: /admin/ }).waitFor();
  const users = (await stack.api('GET', '/users', { token: await stack.adminToken() })).body as Array<{ email: string; role: string }>;
  assert.deepEqual(users.map((u) => `${u.email} ${u.role}`).sort(), ['ed@example.test viewer', 'root@example.test admin']);
  await shoot(page, 'users');
  await assertAccessible(page, 'users');
});

test('a certificate is added through the form, its key never shown back, and the page says the TLS listener serves it', async () => {
  await visit('Certificates', 'Certificates');
  await page.getByRole('link', { name: 'New certificate' }).click();
  await page.getByRole('heading', { name: 'New certificate' }).waitFor();
  await page.locator('#certificates-form_name').fill('partner');
  await page.locator('#certificates-form_snis_0').fill('api.partner.test');
  await page.locator('#certificates-form_cert').fill(cert.cert);
  await page.locator('#certificates-form_key').fill(cert.key);
  await page.getByRole('button', { name: 'Create certificate' }).click();
  await page.getByRole('heading', { name: /Certificate partner/ }).waitFor();
  await page.getByText(/On this node: served until/).waitFor();
  await page.getByText('Private key: stored (never shown).').waitFor();
  assert.equal(await page.locator('#certificates-form_key').inputValue(), '', 'the stored key is not filled back in');
  assert.equal((await page.content()).includes('PRIVATE KEY'), false, 'no private key anywhere on the page');
  await shoot(page, 'certificate');
  await assertAccessible(page, 'certificate');
  // A change without the key keeps the stored one.
  await page.locator('#certificates-form_snis__add').click();
  await page.locator('#certificates-form_snis_1').fill('www.partner.test');
  await page.getByRole('button', { name: 'Validate' }).click();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByText(/Saved certificate "partner"/).waitFor();
  const stored = (await stack.store.read()).certificates.find((c) => c.name === 'partner');
  assert.deepEqual(stored?.snis, ['api.partner.test', 'www.partner.test']);
  assert.equal(stored?.key, cert.key, 'the key survived a save that did not send it');
  await visit('Certificates', 'Certificates');
  const row = page.getByRole('row', { name: /partner/ });
  await row.getByText(/served until/).waitFor();
  assert.equal(await row.getByRole('cell', { name: 'stored', exact: true }).count(), 1, 'the list says a key is stored');
  await shoot(page, 'certificates');
  await assertAccessible(page, 'certificates');
});

test('no page wrote an error to the browser console', () => {
  watch.assertClean();
});
