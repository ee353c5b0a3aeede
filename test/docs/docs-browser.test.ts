import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';

const ARTIFACTS = join(new URL('../../../', import.meta.url).pathname, 'test-artifacts/docs');

let upstream: EchoUpstream;
let gw: TestGateway;
let browser: Browser;
let key: string;

before(async () => {
  upstream = await startEchoUpstream('partner-api');
  gw = await startGateway({
    upstreams: [{ name: 'pool', targets: [{ url: upstream.url }] }],
    routes: [
      {
        name: 'chat',
        methods: ['POST'],
        paths: ['/v1/chat/completions'],
        upstream: 'pool',
        auth: 'api-key',
        schema: { body: { type: 'object', required: ['model'], properties: { model: { type: 'string' } } } },
        docs: { summary: 'Chat completion', tags: ['inference'] },
      },
      { name: 'files', methods: ['GET'], paths: ['/files/*'], upstream: 'pool', auth: 'api-key', docs: { tags: ['storage'] } },
    ],
    consumers: [{ name: 'acme' }],
  });
  key = (await issueKey(gw.store, 'acme', { actor: 'test' })).key;
  const revision = (await gw.store.read()).revision;
  await waitFor(() => gw.node.revision >= revision, 5000, 'key in force');
  // Debian's Chromium, never a downloaded browser.
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  await mkdir(ARTIFACTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await gw.close();
  await upstream.close();
});

test('in a browser, /docs renders the routes and "Try it out" with a partner key reaches the upstream', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));

  await page.goto(`${gw.url}/docs`);
  const operation = page.locator('#operations-inference-chat');
  await operation.waitFor({ timeout: 20_000 });
  assert.match(await operation.innerText(), /Chat completion/);

  // Authorize with the key, as a partner would.
  await page.locator('button.authorize').first().click();
  const apiKey = page.locator('.auth-container').filter({ hasText: 'x-api-key' });
  await apiKey.locator('input').fill(key);
  await apiKey.locator('button.authorize').click();
  await page.locator('.auth-btn-wrapper button.btn-done, .modal-ux button.close-modal').first().click();

  await operation.locator('.opblock-summary').click();
  await operation.locator('button.try-out__btn').click();
  await operation.locator('textarea.body-param__text').fill('{"model":"switchboard-demo-llm"}');
  await operation.locator('button.execute').click();
  const status = operation.locator('.live-responses-table tr.response .response-col_status').first();
  await status.waitFor({ timeout: 20_000 });
  assert.equal((await status.innerText()).trim(), '200');
  await page.screenshot({ path: join(ARTIFACTS, 'docs-try-it-out.png'), fullPage: true });

  const received = upstream.received.at(-1)!;
  assert.equal(received.url, '/v1/chat/completions');
  assert.equal(received.headers['x-consumer-name'], 'acme', 'the call was made with the key');

  // A prefix route's {path} takes the rest of the path with its slashes, as typed.
  const files = page.locator('#operations-storage-files');
  await files.locator('.opblock-summary').click();
  await files.locator('button.try-out__btn').click();
  await files.locator('tr[data-param-name="path"] input').fill('reports/2026/q4.csv');
  await files.locator('button.execute').click();
  const filesStatus = files.locator('.live-responses-table tr.response .response-col_status').first();
  await filesStatus.waitFor({ timeout: 20_000 });
  assert.equal((await filesStatus.innerText()).trim(), '200');
  assert.equal(upstream.received.at(-1)!.url, '/files/reports/2026/q4.csv');
  assert.deepEqual(problems, [], 'no errors in the browser console');
  await page.close();
});
