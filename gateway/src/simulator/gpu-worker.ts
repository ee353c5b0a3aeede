/**
 * A simulated GPU inference worker: an OpenAI-compatible model server whose timing comes from a
 * queue model (slots, FIFO, prefill + per-token time) driven by timers, so a 2-core machine can
 * run dozens of them under benchmark load without the simulation itself eating the CPU.
 * Switches make it slow, failing, unhealthy, hung or dead, for health and failover tests.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

import { GpuQueue } from './gpu-queue.js';
import { BodyTooLarge, readBody, sendJson, splitUrl, SSE_HEADERS } from './http-io.js';
import {
  completionBody,
  errorBody,
  finishChunk,
  type InferenceKind,
  type InferenceRequest,
  InvalidRequest,
  modelObject,
  newAnswerIdentity,
  parseInferenceRequest,
  tokenChunk,
  usage,
  usageChunk,
} from './openai-wire.js';
import { PrefixCache, tokensOf } from './prefix-cache.js';
import { answerEcho, answerSse } from './proxy-probes.js';
import { METRICS_CONTENT_TYPE, renderVllmMetrics } from './vllm-metrics.js';

/** What can be changed while the worker runs, through `set()` or `POST /_sim/switches`. */
export interface WorkerSwitches {
  /** Multiplier of service time: 3 = three times slower, like an older GPU. */
  speed: number;
  /** Share of inference (and echo/sse) requests answered 500 at once, 0..1. */
  failRate: number;
  /** `/health` answers 503 while inference keeps working (a probe-only failure). */
  unhealthy: boolean;
  /** Requests are accepted and never answered (a wedged process). `/_sim/*` still answers. */
  hang: boolean;
  /** Concurrent requests being computed. */
  slots: number;
}

export interface GpuWorkerOptions extends Partial<WorkerSwitches> {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Reported in the `x-worker` header and by echo; default `worker-<port>`. */
  name?: string;
  /** Model id in answers, `/v1/models` and metric labels; default `sim-llm`. */
  model?: string;
  /** Requests allowed to wait for a slot; one more is answered 503 with Retry-After. Default 256. */
  maxQueue?: number;
  /** Fixed time per request before the first token, at speed 1. Default 20. */
  prefillMs?: number;
  /** Time per generated token, at speed 1. Default 5. */
  tokenMs?: number;
  /** Tokens generated when a request sets no max_tokens. Default 16. */
  defaultMaxTokens?: number;
  /**
   * Prefill time per prompt token not found in the prefix cache, at speed 1; added to
   * `prefillMs`. Default 0 (prefill independent of the prompt, as before).
   */
  prefillMsPerToken?: number;
  /** Prefix-cache capacity in blocks (see prefix-cache.ts); 0 (the default) = no cache. */
  prefixCacheBlocks?: number;
  /** Tokens per cache block (vLLM's default block size is 16). Default 16. */
  prefixBlockTokens?: number;
}

export interface GpuWorkerStats {
  readonly name: string;
  readonly model: string;
  readonly url: string;
  /** False between kill() and revive(). */
  readonly up: boolean;
  readonly running: number;
  readonly waiting: number;
  readonly peakWaiting: number;
  /** Inference requests received (well-formed or not). */
  readonly requests: number;
  /** Inference requests answered in full. */
  readonly succeeded: number;
  /** Answered 500 by `failRate`. */
  readonly failed: number;
  /** Answered 503 because the queue was full. */
  readonly rejected: number;
  /** Abandoned by the client while queued or being computed. */
  readonly cancelled: number;
  /** Requests of any kind swallowed by `hang`. */
  readonly hung: number;
  /** Prompt tokens looked up in the prefix cache, and those found there. */
  readonly prefixCacheQueries: number;
  readonly prefixCacheHits: number;
  readonly switches: Readonly<WorkerSwitches>;
}

export interface GpuWorker {
  readonly url: string;
  readonly port: number;
  readonly name: string;
  readonly model: string;
  /** Throws RangeError on an invalid value, leaving every switch unchanged. */
  set(switches: Partial<WorkerSwitches>): void;
  stats(): GpuWorkerStats;
  /** Stops for good; idempotent. */
  close(): Promise<void>;
  /** Stops listening and drops every connection and queued request: connections are refused. */
  kill(): Promise<void>;
  /** Listens again on the same port, with the same switches. */
  revive(): Promise<void>;
}

const SWITCH_NAMES: ReadonlySet<string> = new Set(['speed', 'failRate', 'unhealthy', 'hang', 'slots']);

/** Checks a partial set of switches; returns the first problem, or undefined when all are valid. */
export function switchesProblem(switches: Record<string, unknown>): string | undefined {
  for (const [key, value] of Object.entries(switches)) {
    if (value === undefined) continue;
    switch (key) {
      case 'speed':
        if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return 'speed must be a number above 0';
        break;
      case 'failRate':
        if (typeof value !== 'number' || !(value >= 0 && value <= 1)) return 'failRate must be a number from 0 to 1';
        break;
      case 'unhealthy':
      case 'hang':
        if (typeof value !== 'boolean') return `${key} must be true or false`;
        break;
      case 'slots':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) return 'slots must be an integer of at least 1';
        break;
      default:
        return `unknown switch ${key}; known: ${[...SWITCH_NAMES].join(', ')}`;
    }
  }
  return undefined;
}

export async function startGpuWorker(options: GpuWorkerOptions = {}): Promise<GpuWorker> {
  const host = options.host ?? '127.0.0.1';
  const prefillMs = nonNegative('prefillMs', options.prefillMs ?? 20);
  const tokenMs = nonNegative('tokenMs', options.tokenMs ?? 5);
  const defaultMaxTokens = nonNegative('defaultMaxTokens', options.defaultMaxTokens ?? 16);
  const maxQueue = nonNegative('maxQueue', options.maxQueue ?? 256);
  const prefillMsPerToken = nonNegative('prefillMsPerToken', options.prefillMsPerToken ?? 0);
  const prefixCache = new PrefixCache(
    nonNegative('prefixCacheBlocks', options.prefixCacheBlocks ?? 0),
    4 * nonNegative('prefixBlockTokens', options.prefixBlockTokens ?? 16),
  );
  const switches: WorkerSwitches = { speed: 1, failRate: 0, unhealthy: false, hang: false, slots: 4 };
  const initial = pickSwitches(options);
  const problem = switchesProblem(initial);
  if (problem !== undefined) throw new RangeError(problem);
  Object.assign(switches, initial);

  const queue = new GpuQueue(switches.slots, maxQueue);
  const counts = { requests: 0, succeeded: 0, failed: 0, cancelled: 0, hung: 0 };
  const model = options.model ?? 'sim-llm';
  const startedAt = Math.floor(Date.now() / 1000);
  let name = options.name ?? '';
  let up = false;
  let closed = false;

  const server: Server = createServer({ noDelay: true }, (req, res) => {
    route(req, res).catch((error: unknown) => {
      if (error instanceof BodyTooLarge) {
        sendJson(res, 413, errorBody(error.message, 'invalid_request_error'), { connection: 'close' });
      } else if (!res.headersSent) {
        sendJson(res, 500, errorBody(`simulator error: ${(error as Error).message}`, 'server_error'));
      } else {
        res.destroy();
      }
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('x-worker', name);
    const { path, query } = splitUrl(req.url);
    const method = req.method ?? 'GET';
    if (path.startsWith('/_sim/')) return control(method, path, req, res);
    if (switches.hang) {
      counts.hung += 1;
      req.resume();
      return;
    }
    if (path === '/echo' || path.startsWith('/echo/')) {
      if (failNow(res)) return;
      return answerEcho(req, res, query, name);
    }
    switch (path) {
      case '/v1/chat/completions':
        return method === 'POST' ? infer('chat', req, res) : methodNotAllowed(res, 'POST');
      case '/v1/completions':
        return method === 'POST' ? infer('completion', req, res) : methodNotAllowed(res, 'POST');
      case '/health':
        if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD');
        return sendJson(res, switches.unhealthy ? 503 : 200, { status: switches.unhealthy ? 'unhealthy' : 'ok' });
      case '/metrics': {
        if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD');
        const text = renderVllmMetrics({
          model,
          running: queue.running,
          waiting: queue.waiting,
          slots: queue.slots,
          succeeded: counts.succeeded,
          prefixCacheQueries: prefixCache.queries,
          prefixCacheHits: prefixCache.hits,
        });
        res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      case '/v1/models':
        return sendJson(res, 200, { object: 'list', data: [modelObject(model, startedAt)] });
      case '/sse':
        if (failNow(res)) return;
        return answerSse(res, query);
    }
    if (path.startsWith('/v1/models/')) {
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      return id === model
        ? sendJson(res, 200, modelObject(model, startedAt))
        : sendJson(res, 404, errorBody(`The model \`${id}\` does not exist.`, 'not_found_error', 'model'));
    }
    sendJson(res, 404, errorBody(`No route for ${method} ${path}`, 'not_found_error'));
  }

  /** `failRate` decides before any work is queued: a crashing backend fails fast. */
  function failNow(res: ServerResponse): boolean {
    if (switches.failRate === 0 || Math.random() >= switches.failRate) return false;
    counts.failed += 1;
    sendJson(res, 500, errorBody('simulated failure (failRate)', 'server_error'));
    return true;
  }

  async function infer(kind: InferenceKind, req: IncomingMessage, res: ServerResponse): Promise<void> {
    counts.requests += 1;
    const raw = await readBody(req);
    let request: InferenceRequest;
    try {
      request = parseInferenceRequest(kind, raw.toString('utf8'), defaultMaxTokens);
    } catch (error) {
      if (!(error instanceof InvalidRequest)) throw error;
      return sendJson(res, 400, errorBody(error.message, 'invalid_request_error', error.param));
    }
    if (failNow(res)) return;
    if (res.destroyed) return;

    let finished = false;
    let stopTimers: (() => void) | undefined;
    const ticket = queue.submit((release) => {
      const done = (): void => {
        finished = true;
        release();
        counts.succeeded += 1;
      };
      // The KV cache is consulted when the sequence is scheduled: only the uncached part is computed.
      const uncached = request.promptText.length - prefixCache.prefill(request.promptText);
      const prefill = prefillMs + tokensOf(uncached) * prefillMsPerToken;
      stopTimers = request.stream ? streamAnswer(request, res, done, prefill) : wholeAnswer(request, res, done, prefill);
    });
    if (ticket === undefined) {
      return sendJson(res, 503, errorBody('The server is overloaded: too many requests queued.', 'overloaded_error'), {
        'retry-after': String(retryAfterSeconds()),
      });
    }
    // vLLM opens a stream as soon as it accepts the request, so a client (or the gateway) sees
    // the headers at once and the first token only after queueing and prefill.
    if (request.stream && !res.headersSent) {
      res.writeHead(200, SSE_HEADERS);
      res.flushHeaders();
    }
    res.once('close', () => {
      if (finished) return;
      stopTimers?.();
      ticket.cancel();
      if (up) counts.cancelled += 1;
    });
  }

  /** Holds the slot for the whole service time, then answers in one piece. */
  function wholeAnswer(request: InferenceRequest, res: ServerResponse, done: () => void, prefillMs: number): () => void {
    const serviceMs = (prefillMs + request.maxTokens * tokenMs) * switches.speed;
    const timer = setTimeout(() => {
      done();
      sendJson(res, 200, completionBody(newAnswerIdentity(request.kind, model), request));
    }, serviceMs);
    return () => clearTimeout(timer);
  }

  /** Holds the slot while emitting one token per token time after the prefill. */
  function streamAnswer(request: InferenceRequest, res: ServerResponse, done: () => void, prefillMs: number): () => void {
    const answer = newAnswerIdentity(request.kind, model);
    // The speed in force when the slot was taken applies to the whole answer, as a GPU's does.
    const prefill = prefillMs * switches.speed;
    const perToken = tokenMs * switches.speed;
    const slotTakenAt = performance.now();
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const event = (payload: object | string): void => {
      res.write(`data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`);
    };
    const next = (): void => {
      if (sent < request.maxTokens) {
        const chunk = tokenChunk(answer, sent);
        sent += 1;
        // vLLM's continuous usage stats: each chunk says what the answer has cost so far.
        event(request.continuousUsage ? { ...chunk, usage: usage(request, sent) } : chunk);
      }
      if (sent >= request.maxTokens) {
        event(finishChunk(answer, request));
        if (request.includeUsage) event(usageChunk(answer, request));
        event('[DONE]');
        done();
        res.end();
        return;
      }
      // Each token is due at a fixed offset from the slot start, so late timers do not add up.
      timer = setTimeout(next, Math.max(0, slotTakenAt + prefill + (sent + 1) * perToken - performance.now()));
    };
    const firstDue = request.maxTokens === 0 ? prefill : prefill + perToken;
    timer = setTimeout(next, firstDue);
    return () => clearTimeout(timer);
  }

  function retryAfterSeconds(): number {
    const serviceMs = (prefillMs + defaultMaxTokens * tokenMs) * switches.speed;
    return Math.max(1, Math.ceil(((queue.waiting / queue.slots) * serviceMs) / 1000));
  }

  async function control(method: string, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (path === '/_sim/stats' && method === 'GET') return sendJson(res, 200, stats());
    if (path !== '/_sim/switches') return sendJson(res, 404, errorBody(`No route for ${method} ${path}`, 'not_found_error'));
    if (method === 'GET') return sendJson(res, 200, switches);
    if (method !== 'POST') return methodNotAllowed(res, 'GET, POST');
    let body: unknown;
    try {
      body = JSON.parse((await readBody(req)).toString('utf8'));
    } catch (error) {
      return sendJson(res, 400, errorBody(`invalid JSON: ${(error as Error).message}`, 'invalid_request_error'));
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return sendJson(res, 400, errorBody('switches must be a JSON object', 'invalid_request_error'));
    }
    try {
      set(body as Partial<WorkerSwitches>);
    } catch (error) {
      return sendJson(res, 400, errorBody((error as Error).message, 'invalid_request_error'));
    }
    sendJson(res, 200, switches);
  }

  function set(changes: Partial<WorkerSwitches>): void {
    const problem = switchesProblem(changes as Record<string, unknown>);
    if (problem !== undefined) throw new RangeError(problem);
    const picked = pickSwitches(changes);
    Object.assign(switches, picked);
    if (picked.slots !== undefined) queue.slots = picked.slots;
  }

  function stats(): GpuWorkerStats {
    const queued = queue.counters();
    return {
      name,
      model,
      url,
      up,
      running: queued.running,
      waiting: queued.waiting,
      peakWaiting: queued.peakWaiting,
      requests: counts.requests,
      succeeded: counts.succeeded,
      failed: counts.failed,
      rejected: queued.rejected,
      cancelled: counts.cancelled,
      hung: counts.hung,
      prefixCacheQueries: prefixCache.queries,
      prefixCacheHits: prefixCache.hits,
      switches: { ...switches },
    };
  }

  async function kill(): Promise<void> {
    if (!up) return;
    up = false;
    // Forget queued and running jobs first, so dropping their sockets does not start the next.
    queue.clear();
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await stopped;
  }

  let port = options.port ?? 0;
  await listen(server, port, host);
  up = true;
  port = (server.address() as { port: number }).port;
  if (name === '') name = `worker-${port}`;
  const url = `http://${urlHost(host)}:${port}`;

  return {
    url,
    port,
    name,
    model,
    set,
    stats,
    kill,
    async revive(): Promise<void> {
      if (closed) throw new Error(`worker ${name} is closed`);
      if (up) return;
      await listen(server, port, host);
      up = true;
    },
    async close(): Promise<void> {
      closed = true;
      await kill();
    },
  };
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  sendJson(res, 405, errorBody(`Method not allowed; use ${allow}`, 'invalid_request_error'), { allow });
}

function pickSwitches(source: Partial<WorkerSwitches>): Partial<WorkerSwitches> {
  const picked: Record<string, unknown> = {};
  for (const key of SWITCH_NAMES) {
    const value = (source as Record<string, unknown>)[key];
    if (value !== undefined) picked[key] = value;
  }
  return picked as Partial<WorkerSwitches>;
}

function nonNegative(option: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${option} must be a number of at least 0`);
  return value;
}

/** A listen that can be repeated after close (revive); retries briefly if the port is still held. */
async function listen(server: Server, port: number, host: string): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error): void => reject(error);
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          resolve();
        });
      });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0 || attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Wildcard binds are reached over loopback; IPv6 literals need brackets in a URL. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
