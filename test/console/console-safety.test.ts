import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SignJWT } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { ADMIN_JWT_SECRET } from '../../gateway/src/admin/admin-identity.js';
import { assertAccessible, launchBrowser, openPage, PageWatch, shoot, signIn, startConsoleStack, type ConsoleStack } from './console-harness.js';

/**
 * What must not go wrong in the console: two people saving over each other, a save the server
 * refuses, a viewer finding edit buttons, and a dead token leaving a blank page.
 */
let stack: ConsoleStack;
let browser: Browser;
const watches: PageWatch[] = [];
const VIEWER = { email: 'viewer@example.test', password: 'viewer password 1' };

before(async () => {
  stack = await startConsoleStack(1);
  browser = await launchBrowser();
  const token = await stack.adminToken();
  const worker = stack.workers[0]!;
  assert.equal((await stack.api('POST', '/upstreams', { token, body: { name: 'pool', targets: [{ url: worker.url }] } })).status, 201);
  assert.equal((await stack.api('POST', '/routes', { token, body: { name: 'shared', paths: ['/shared'], upstream: 'pool' } })).status, 201);
  assert.equal((await stack.api('POST', '/users', { token, body: { ...VIEWER, role: 'viewer' } })).status, 201);
});

after(async () => {
  await browser?.close();
  await stack?.close();
});

async function newPage(): Promise<{ page: Page; watch: PageWatch }> {
  const page = await openPage(browser);
  const watch = new PageWatch(page);
  watches.push(watch);
  return { page, watch };
}

test('when two people edit one route, the later save is refused with 412, shows the difference and offers a reload', async () => {
  const alice = await newPage();
  const bob = await newPage();
  for (const { page } of [alice, bob]) {
    await signIn(page, stack.adminUrl);
    await page.goto(`${stack.adminUrl}/routes/shared`);
    await page.locator('#routes-form_timeoutMs').waitFor();
  }
  await bob.page.locator('#routes-form_timeoutMs').fill('5000');
  await bob.page.getByRole('button', { name: 'Validate' }).click();
  await bob.page.getByText('Valid: the server would accept this route.').waitFor();
  await bob.page.getByRole('button', { name: 'Save' }).click();
  await bob.page.getByText(/Saved route "shared" \(version 2\)/).waitFor();

  alice.watch.expectStatus(412);
  await alice.page.locator('#routes-form_retries').fill('3');
  await alice.page.getByRole('button', { name: 'Validate' }).click();
  await alice.page.getByText('Valid: the server would accept this route.').waitFor();
  await alice.page.getByRole('button', { name: 'Save' }).click();
  const conflict = alice.page.locator('.conflict');
  await conflict.getByRole('heading', { name: 'Someone else changed this route' }).waitFor();
  const difference = await conflict.locator('table.diff').innerText();
  assert.match(difference, /\/timeoutMs\s+120000\s+5000/, 'their change is shown');
  assert.match(difference, /\/retries\s+3\s+1/, 'and the unsaved edit it would have overwritten');
  assert.equal((await stack.api('GET', '/routes/shared', { token: await stack.adminToken() })).body.retries, 1, 'nothing of the stale save reached the store');
  await shoot(alice.page, 'route-conflict');
  await assertAccessible(alice.page, 'route-conflict');
  await conflict.getByRole('button', { name: 'Reload the current version' }).click();
  assert.equal(await alice.page.locator('#routes-form_timeoutMs').inputValue(), '5000');
  await alice.page.locator('#routes-form_retries').fill('3');
  await alice.page.getByRole('button', { name: 'Validate' }).click();
  await alice.page.getByText('Valid: the server would accept this route.').waitFor();
  await alice.page.getByRole('button', { name: 'Save' }).click();
  await alice.page.getByText(/Saved route "shared" \(version 3\)/).waitFor();
  const saved = (await stack.api('GET', '/routes/shared', { token: await stack.adminToken() })).body;
  assert.deepEqual([saved.timeoutMs, saved.retries], [5000, 3], 'both edits are kept');
  await alice.page.context().close();
  await bob.page.context().close();
});

test('a save the server refuses shows its message at the field it names, and nothing is saved', async () => {
  const { page, watch } = await newPage();
  watch.expectStatus(400);
  await signIn(page, stack.adminUrl);
  await page.goto(`${stack.adminUrl}/routes/new`);
  await page.locator('#routes-form_name').fill('orphan');
  await page.locator('#routes-form_paths_0').fill('/orphan');
  await page.locator('#routes-form_upstream').fill('no-such-pool');
  await page.getByRole('button', { name: 'Validate' }).click();
  await page.locator('#routes-form_upstream__error').getByText('names unknown upstream "no-such-pool"').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Create route' }).isDisabled(), true, 'a refused item cannot be saved');
  await page.locator('#routes-form_paths_0').fill('no-slash');
  await page.getByRole('button', { name: 'Validate' }).click();
  await page.locator('#routes-form_paths_0__error').waitFor();
  assert.match(await page.locator('#routes-form_paths_0__error').innerText(), /pattern/, 'the same schema refuses it in the browser first');
  assert.equal((await stack.api('GET', '/routes/orphan', { token: await stack.adminToken() })).status, 404);
  await page.context().close();
});

let viewer: { page: Page; watch: PageWatch };
test('a viewer sees every page but no edit button', async () => {
  viewer = await newPage();
  const { page } = viewer;
  await signIn(page, stack.adminUrl, VIEWER.email, VIEWER.password);
  const nav = page.getByRole('navigation', { name: 'Main' });
  assert.equal(await nav.getByRole('link', { name: 'Users' }).count(), 0, 'users are for admins');
  const noEditing = async (where: string) => {
    for (const name of ['New upstream', 'New route', 'New consumer', 'Validate', 'Save', 'Drain', 'Set weight', 'Issue a key', 'Restore…', 'Add item', 'Add section']) {
      assert.equal(await page.getByRole('button', { name, exact: true }).count() + (await page.getByRole('link', { name, exact: true }).count()), 0, `${where} offers "${name}" to a viewer`);
    }
  };
  await nav.getByRole('link', { name: 'Upstreams' }).click();
  await page.getByRole('link', { name: 'pool' }).waitFor();
  await noEditing('the upstream list');
  await page.getByRole('link', { name: 'pool' }).click();
  await page.getByRole('table', { name: 'Targets' }).waitFor();
  await noEditing('the upstream page');
  await page.getByRole('button', { name: 'View definition' }).click();
  assert.equal(await page.locator('#upstreams-form_name').isDisabled(), true, 'the form is read-only');
  await noEditing('the upstream definition');
  await page.goto(`${stack.adminUrl}/routes/shared`);
  await page.locator('#routes-form_name').waitFor();
  await noEditing('the route page');
  await shoot(page, 'viewer-route');
  await assertAccessible(page, 'viewer-route');
  await nav.getByRole('link', { name: 'Revisions' }).click();
  await page.getByRole('table', { name: 'Revisions' }).waitFor();
  await noEditing('the revisions page');
  await nav.getByRole('link', { name: 'Overview' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
});

test('a viewer whose account is deleted is signed out on the next refresh, with the reason', async () => {
  const { page, watch } = viewer;
  watch.expectStatus(401);
  const token = await stack.adminToken();
  assert.equal((await stack.api('DELETE', `/users/${VIEWER.email}`, { token })).status, 204);
  // The overview polls every second, so the next refresh meets the 401.
  await page.getByTestId('signed-out').waitFor({ timeout: 5000 });
  assert.match(await page.getByTestId('signed-out').innerText(), /no longer exists/);
  await page.getByRole('heading', { name: 'Sign in to Switchboard' }).waitFor();
  assert.deepEqual(await page.evaluate(() => Object.keys(sessionStorage)), [], 'the dead token is forgotten');
  await shoot(page, 'signed-out');
  await assertAccessible(page, 'signed-out');
  await page.context().close();
});

test('an expired token gets the signed-out screen, not a blank page', async () => {
  const { page, watch } = await newPage();
  watch.expectStatus(401);
  const state = await stack.store.read();
  const admin = state.users.find((u) => u.role === 'admin')!;
  const expired = await new SignJWT({ email: admin.email, role: admin.role })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(admin.id)
    .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
    .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
    .sign(new TextEncoder().encode(state.secrets[ADMIN_JWT_SECRET]!));
  // As if the tab had kept a token the server no longer accepts (its clock, or a changed secret).
  await page.addInitScript(`sessionStorage.setItem('switchboard.session', JSON.stringify({ token: ${JSON.stringify(expired)}, expiresAt: Date.now() + 3600000 }))`);
  await page.goto(`${stack.adminUrl}/upstreams`);
  await page.getByTestId('signed-out').waitFor();
  assert.match(await page.getByTestId('signed-out').innerText(), /invalid or expired/);
  await page.getByLabel('Email').waitFor();
  await page.context().close();
});

test('the console is usable from the keyboard: skip link, navigation, and forms by Tab and Enter', async () => {
  const { page } = await newPage();
  await page.goto(stack.adminUrl);
  await page.getByLabel('Email').focus();
  await page.keyboard.type('root@example.test');
  await page.keyboard.press('Tab');
  await page.keyboard.type('correct horse battery staple');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate('document.activeElement.textContent'), 'Skip to content');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate('document.activeElement.textContent'), 'Upstreams');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Upstreams', level: 1 }).waitFor();
  await page.context().close();
});

test('the console wrote no unexpected error to any browser console', () => {
  for (const watch of watches) watch.assertClean();
});
