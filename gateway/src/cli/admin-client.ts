import { Writable } from 'node:stream';
import { createInterface } from 'node:readline/promises';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:9080';

/** A refusal or failure of the admin API, with what the problem document said. */
export class AdminApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly problem: { detail?: string; errors?: Array<{ path: string; message: string }>; [field: string]: unknown } | undefined,
  ) {
    super(message);
    this.name = 'AdminApiError';
  }
}

export interface AdminAnswer<T> {
  status: number;
  etag: string | null;
  body: T;
}

export interface Terminal {
  stdin: NodeJS.ReadStream;
  stderr: NodeJS.WriteStream;
}

/** A client of the admin API (`/api/v1` on the admin listener) holding one bearer token. */
export class AdminClient {
  private constructor(
    readonly base: string,
    private readonly token: string,
  ) {}

  /**
   * The token from SWITCHBOARD_TOKEN, else signed in with an email and password asked on the
   * terminal (the password is not echoed). Without either there is no way to ask: say how.
   */
  static async connect(adminUrl: string, env: NodeJS.ProcessEnv, terminal: Terminal): Promise<AdminClient> {
    // The admin listener's URL; one that already ends in the API's path works too.
    const base = `${adminUrl.replace(/\/+$/, '').replace(/\/api\/v1$/, '')}/api/v1`;
    if (!/^https?:\/\//.test(adminUrl)) throw new Error(`--admin must be an http(s):// URL, got "${adminUrl}"`);
    const token = env.SWITCHBOARD_TOKEN?.trim();
    if (token) return new AdminClient(base, token);
    if (!terminal.stdin.isTTY) {
      throw new Error('no admin token: set SWITCHBOARD_TOKEN (POST /api/v1/auth/login gives one) or run on a terminal to sign in');
    }
    const email = await askLine(terminal, 'email: ');
    const password = await askHidden(terminal, 'password: ');
    const answer = await request<{ token: string }>('POST', `${base}/auth/login`, undefined, { email, password });
    return new AdminClient(base, answer.body.token);
  }

  call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<AdminAnswer<T>> {
    return request<T>(method, `${this.base}${path}`, this.token, body, headers);
  }
}

async function request<T>(method: string, url: string, token: string | undefined, body?: unknown, headers: Record<string, string> = {}): Promise<AdminAnswer<T>> {
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: {
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: body === undefined ? null : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`cannot reach the admin API at ${new URL(url).origin}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    throw new AdminApiError(`${method} ${new URL(url).pathname}: ${response.status}, not JSON: ${text.slice(0, 200)}`, response.status, undefined);
  }
  if (!response.ok) {
    const problem = parsed as AdminApiError['problem'];
    throw new AdminApiError(`${method} ${new URL(url).pathname}: ${response.status} ${problem?.detail ?? response.statusText}`, response.status, problem);
  }
  return { status: response.status, etag: response.headers.get('etag'), body: parsed as T };
}

async function askLine(terminal: Terminal, prompt: string): Promise<string> {
  const rl = createInterface({ input: terminal.stdin, output: terminal.stderr, terminal: true });
  try {
    return (await rl.question(prompt)).trim();
  } finally {
    rl.close();
  }
}

/** A line read with echo off: readline writes to a sink while the password is typed. */
async function askHidden(terminal: Terminal, prompt: string): Promise<string> {
  terminal.stderr.write(prompt);
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({ input: terminal.stdin, output: sink, terminal: true });
  try {
    return await rl.question('');
  } finally {
    rl.close();
    terminal.stderr.write('\n');
  }
}
