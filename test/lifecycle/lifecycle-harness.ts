import { spawn, type ChildProcess } from 'node:child_process';
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import { openStore } from '../../gateway/src/store/open-store.js';
import { operatorEnv, untilStarted } from '../helpers/gateway-process.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../gateway/src/main.js', import.meta.url));
export const ADMIN = { email: 'ops@example.test', password: 'lifecycle-test-password' };

/** An open route `/v1/*` over the given targets, with an active health check. */
export async function seedStore(storeUrl: string, targets: string[], activeIntervalMs = 200): Promise<void> {
  const store = await openStore(storeUrl);
  try {
    await replaceConfig(
      store,
      {
        upstreams: [
          {
            name: 'gpus',
            targets: targets.map((url) => ({ url })),
            healthCheck: { active: { type: 'http', path: '/health', intervalMs: activeIntervalMs, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 1 } },
          },
        ],
        routes: [{ name: 'inference', paths: ['/v1/*'], methods: ['GET', 'POST'], upstream: 'gpus', timeoutMs: 120_000, idleTimeoutMs: 30_000 }],
        consumers: [],
      },
      'test',
    );
  } finally {
    await store.close();
  }
}

export interface Started {
  child: ChildProcess;
  output: () => string;
  port: number;
  publicUrl: string;
  adminUrl: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The gateway as an operator starts it: `npm start` or `node dist/gateway/src/main.js`, ports chosen by the OS. */
export async function startGateway(how: 'npm' | 'node', storeUrl: string, env: Record<string, string> = {}): Promise<Started> {
  const child =
    how === 'npm'
      ? spawn('npm', ['start', '--silent'], { cwd: ROOT, env: gatewayEnv(storeUrl, env), stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(process.execPath, [MAIN], { cwd: ROOT, env: gatewayEnv(storeUrl, env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  await untilStarted(child, () => out, 60_000);
  const port = Number(/listening on [^:]+:(\d+)/.exec(out)![1]);
  return { child, output: () => out, port, publicUrl: `http://127.0.0.1:${port}`, adminUrl: /admin console\s+(\S+)\//.exec(out)![1]!, exited };
}

// No DRAIN_DELAY_MS here: a stop waits the product's default unless a test sets its own.
const gatewayEnv = (storeUrl: string, env: Record<string, string>) => operatorEnv(storeUrl, ADMIN, env);

/** Whether a fresh TCP connection to the port is accepted. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request on a connection of its own (no pooling: each call is a new connection). */
export function get(url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer in 10 s: GET ${url}`)));
    req.end();
  });
}

export interface Stream {
  /** Resolves with the first bytes of the body: the stream is under way. */
  started: Promise<void>;
  /** The whole body once the response ends; rejects if the connection breaks first. */
  done: Promise<{ status: number; body: string }>;
}

/** A streamed chat completion of `maxTokens` tokens through the gateway. */
export function streamChat(publicUrl: string, maxTokens: number): Stream {
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const done = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${publicUrl}/v1/chat/completions`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
        markStarted();
      });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error(`stream cut after ${body.length} bytes`)));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ model: 'sim', stream: true, max_tokens: maxTokens, messages: [{ role: 'user', content: 'a long answer, please' }] }));
  });
  return { started, done };
}

/** The content tokens of an OpenAI SSE body, and whether it ended with [DONE]. */
export function sseSummary(body: string): { chunks: number; finished: boolean } {
  const events = body.split('\n\n').filter((e) => e.startsWith('data: '));
  return { chunks: events.filter((e) => e !== 'data: [DONE]' && e.includes('"content"')).length, finished: events.at(-1) === 'data: [DONE]' };
}
