import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { pino } from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { defaultStages } from '../../plugins/index.js';
import { startAdmin, type AdminServer } from '../../gateway/src/admin/admin-server.js';
import { GatewayNode } from '../../gateway/src/node/gateway-node.js';
import type { EdgeSettings } from '../../gateway/src/node/edge-settings.js';
import { systemRoutes } from '../../gateway/src/node/system-routes.js';
import { startGpuWorker, type GpuWorker } from '../../gateway/src/simulator/gpu-worker.js';
import { FileStore } from '../../gateway/src/store/file-store.js';

export const ADMIN_EMAIL = 'root@example.test';
export const ADMIN_PASSWORD = 'correct horse battery staple';
export const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'console');

/** A real gateway node, its admin listener serving the built console, and simulated GPU workers. */
export interface ConsoleStack {
  adminUrl: string;
  gatewayUrl: string;
  node: GatewayNode;
  store: FileStore;
  admin: AdminServer;
  workers: GpuWorker[];
  api(method: string, path: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; body: any; headers: Headers }>;
  adminToken(): Promise<string>;
  close(): Promise<void>;
}

/** `edge`: the node's edge listeners (a TLS listener, for the certificates page). */
export async function startConsoleStack(workerCount = 2, edge?: EdgeSettings): Promise<ConsoleStack> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-console-'));
  const store = new FileStore(join(dir, 'switchboard.json'), { pollMs: 100 });
  await store.open();
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const node = new GatewayNode({ store, logger, port: 0, host: '127.0.0.1', stages: defaultStages(), systemRoutes, ...(edge ? { edge } : {}) });
  await node.start();
  const admin = await startAdmin({
    env: { adminPort: 0, adminHost: '127.0.0.1', adminEmail: ADMIN_EMAIL, adminPassword: ADMIN_PASSWORD },
    store,
    node,
    logger,
    metrics: node.metrics,
  });
  const workers = await Promise.all(Array.from({ length: workerCount }, (_, i) => startGpuWorker({ name: `gpu-${i}`, prefillMs: 2, tokenMs: 1, defaultMaxTokens: 4 })));
  const api: ConsoleStack['api'] = async (method, path, o = {}) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${admin.url}/api/v1${path}`, { method, headers, ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}) });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
  };
  let token: string | undefined;
  return {
    adminUrl: admin.url,
    gatewayUrl: node.url,
    node,
    store,
    admin,
    workers,
    api,
    async adminToken() {
      token ??= (await api('POST', '/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } })).body.token as string;
      return token;
    },
    async close() {
      await admin.close();
      await node.close();
      await Promise.all(workers.map((w) => w.close()));
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh browser context (axe needs one) and its page, with short waits so a failure shows fast. */
export async function openPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(10_000);
  return context.newPage();
}

/** Debian's Chromium; never a downloaded browser. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * Every console error and uncaught exception of a page. Chromium logs each HTTP error answer
 * to fetch as a console error ("Failed to load resource: … status of 412"); a test that provokes
 * one on purpose says which status it expects, and any other error fails it.
 */
export class PageWatch {
  readonly errors: string[] = [];
  private readonly expected = new Set<number>();
  constructor(readonly page: Page) {
    page.on('console', (message) => {
      if (message.type() === 'error') this.errors.push(message.text());
    });
    page.on('pageerror', (error) => this.errors.push(`uncaught: ${error.message}`));
  }
  expectStatus(status: number): void {
    this.expected.add(status);
  }
  assertClean(): void {
    const unexpected = this.errors.filter((e) => {
      const m = /Failed to load resource: the server responded with a status of (\d{3})/.exec(e);
      return !(m && this.expected.has(Number(m[1])));
    });
    assert.deepEqual(unexpected, [], 'the browser console has errors');
  }
}

export async function signIn(page: Page, url: string, email = ADMIN_EMAIL, password = ADMIN_PASSWORD): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
}

/** Screenshots at the two sizes the console must work at, under test-artifacts/console/. */
export async function shoot(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  const original = page.viewportSize() ?? { width: 1280, height: 800 };
  try {
    for (const size of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
      await page.setViewportSize(size);
      await page.waitForTimeout(150);
      await page.screenshot({ path: join(ARTIFACTS, `${name}-${size.width}.png`), fullPage: true });
      // Nothing may stick out sideways at phone width: wide tables scroll inside their own box.
      if (size.width === 390) {
        const overflow = (await page.evaluate(WIDER_THAN_SCREEN)) as string[];
        assert.deepEqual(overflow, [], `${name} has elements wider than a 390-px screen`);
      }
    }
  } finally {
    await page.setViewportSize(original);
  }
}

/** How far the page is wider than the screen, and (to say why) the elements sticking out. */
const WIDER_THAN_SCREEN = `(() => {
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width + 1) return [];
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.right > width + 1 && el.children.length === 0) out.push(el.tagName.toLowerCase() + '.' + String(el.className).split(' ').join('.') + ' ' + Math.round(r.right) + 'px');
  }
  return ['page is ' + document.documentElement.scrollWidth + 'px wide', ...out.slice(0, 5)];
})()`;

/** axe-core over the page as it is: no serious or critical violation. */
export async function assertAccessible(page: Page, name: string): Promise<void> {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`),
    [],
    `${name} has accessibility violations`,
  );
}

export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
