import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startAdmin, type AdminServer } from '../../gateway/src/admin/admin-server.js';
import type { GatewayNode } from '../../gateway/src/node/gateway-node.js';
import { FileStore } from '../../gateway/src/store/file-store.js';
import type { ConfigStore } from '../../gateway/src/store/port.js';

export const ADMIN_EMAIL = 'root@example.test';
export const ADMIN_PASSWORD = 'correct horse battery staple';

export interface ApiAnswer {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

/** Every log line the admin server wrote, for the secret scans. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.lines.push(...chunk.toString().split('\n').filter(Boolean));
    done();
  }
}

export interface AdminHarness {
  admin: AdminServer;
  store: ConfigStore;
  dir: string;
  logs: LogCapture;
  /** Every answer seen, for the secret scans. */
  answers: ApiAnswer[];
  api(method: string, path: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<ApiAnswer>;
  login(email?: string, password?: string): Promise<string>;
  close(): Promise<void>;
}

export async function startHarness(options: { store?: ConfigStore; dir?: string; node?: GatewayNode; env?: { adminEmail?: string; adminPassword?: string } } = {}): Promise<AdminHarness> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'sb-admin-')));
  const store = options.store ?? new FileStore(join(dir, 'switchboard.json'));
  await store.open();
  const logs = new LogCapture();
  const logger = pino({ level: 'debug' }, logs);
  const admin = await startAdmin({
    env: {
      adminPort: 0,
      adminHost: '127.0.0.1',
      adminEmail: options.env ? options.env.adminEmail : ADMIN_EMAIL,
      adminPassword: options.env ? options.env.adminPassword : ADMIN_PASSWORD,
    },
    store,
    node: options.node,
    logger,
    metrics: undefined,
  });
  const answers: ApiAnswer[] = [];
  const api: AdminHarness['api'] = async (method, path, o = {}) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${admin.url}${path.startsWith('/api') ? path : `/api/v1${path}`}`, {
      method,
      headers,
      ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
    });
    const text = await response.text();
    let body: unknown = undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    const answer = { status: response.status, headers: response.headers, body, text };
    answers.push(answer);
    return answer;
  };
  const login = async (email = ADMIN_EMAIL, password = ADMIN_PASSWORD) => {
    const answer = await api('POST', '/auth/login', { body: { email, password } });
    if (answer.status !== 200) throw new Error(`login failed: ${answer.status} ${answer.text}`);
    return answer.body.token as string;
  };
  return {
    admin,
    store,
    dir,
    logs,
    answers,
    api,
    login,
    close: async () => {
      await admin.close();
      if (!options.store) await store.close();
      if (!options.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export const upstreamBody = (name: string, port = 9) => ({
  name,
  algorithm: 'round-robin',
  targets: [{ url: `http://127.0.0.1:${port}` }],
});

export const routeBody = (name: string, upstream: string, path = `/${name}`) => ({ name, paths: [path], upstream, methods: ['GET', 'POST'] });
