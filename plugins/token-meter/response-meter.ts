import type { FastifyBaseLogger } from 'fastify';
import type { ResponseTap } from '../../gateway/src/contracts/response-tap.js';
import { readUsage, usageFromTail, type UsageReading } from './usage.js';

/** What one metered answer told: its usage (undefined: none given) and, for streams, when tokens came. */
export interface MeterReport {
  usage: UsageReading;
  /** Why the usage is 'malformed', for the log. */
  reason: string | undefined;
  streamed: boolean;
  /** performance.now() of the first event with data; streams only. */
  firstEventAt: number | undefined;
  endedAt: number;
}

/** A whole JSON answer up to this size is kept and parsed; past it only its tail is. */
const WHOLE_JSON_BYTES = 1024 * 1024;
const JSON_TAIL_BYTES = 64 * 1024;
/** One SSE event longer than this stops the metering of that answer (and any stripping): memory stays bounded. */
const MAX_EVENT_BYTES = 1024 * 1024;

const LF = 10;
const CR = 13;
const USAGE_KEY = Buffer.from('"usage"');
const DATA_PREFIX = 'data:';

type Mode = 'off' | 'json' | 'sse';

/**
 * The token meter's tap on one answer. JSON answers: a copy is kept (whole up to 1 MiB, else the
 * last 64 KiB) while the bytes go to the client untouched, and parsed at the end. Event streams:
 * events are split as they pass (WHATWG SSE: an event ends at a blank line) and only events that
 * mention `"usage"` with a value other than null are parsed; the last usage seen is the
 * answer's (vLLM's continuous usage stats repeat a growing one in every chunk), so an answer is
 * billed once. Only the incomplete last event is kept between chunks.
 *
 * With `strip` (the gateway itself asked for include_usage) the usage-only chunk — empty
 * `choices` and a `usage` — is removed from what the client receives: complete events go out at
 * once, and only the bytes of an event not yet complete wait for the rest of it.
 */
export class ResponseMeter implements ResponseTap {
  /** Set by the stage when it added stream_options.include_usage to the request. */
  strip = false;
  private mode: Mode = 'off';
  private chunks: Buffer[] = [];
  private bytes = 0;
  private tail: Buffer | undefined;
  private headModel: string | undefined;
  private pending: Buffer | undefined;
  private usage: UsageReading;
  private reason: string | undefined;
  private firstEventAt: number | undefined;
  private done = false;

  constructor(
    private readonly logger: FastifyBaseLogger,
    private readonly report: (r: MeterReport) => void,
  ) {}

  started(status: number, headers: Record<string, string | string[] | undefined>): void {
    if (status < 200 || status >= 300) return;
    const type = String(headers['content-type'] ?? '').toLowerCase();
    const encoding = headers['content-encoding'];
    const isSse = type.startsWith('text/event-stream');
    if (!isSse && !/^application\/([\w.+-]*\+)?json/.test(type)) return;
    if (encoding !== undefined && encoding !== 'identity') {
      this.mode = 'off';
      this.finish('malformed', `the answer is ${String(encoding)}-encoded; the gateway does not decode answers to meter them`, isSse);
      return;
    }
    this.mode = isSse ? 'sse' : 'json';
    // A stream with a content-length cannot lose bytes without lying about its length.
    if (isSse && headers['content-length'] !== undefined) this.strip = false;
  }

  data(chunk: Buffer): Buffer {
    if (this.mode === 'json') this.keepJson(chunk);
    else if (this.mode === 'sse') return this.events(chunk);
    return chunk;
  }

  ended(): Buffer | undefined {
    if (this.mode === 'json') {
      this.mode = 'off';
      this.endJson();
      return undefined;
    }
    if (this.mode === 'sse') {
      this.mode = 'off';
      // A last event the stream ended without a blank line after.
      const rest = this.pending;
      this.pending = undefined;
      let held: Buffer | undefined;
      if (rest !== undefined && rest.length > 0 && this.event(rest) && this.strip) held = rest;
      this.finish(this.usage, this.reason, true);
      return held;
    }
    return undefined;
  }

  aborted(): void {
    // A stream cut before its end (the client left, the worker broke it) never gets its final
    // usage. With continuous usage stats (vLLM's stream_options.continuous_usage_stats) every
    // chunk said what the answer had cost so far: the last one seen is what the GPU produced
    // up to the cut, and is billed. Without them nothing can be (see the README's gaps).
    const soFar = this.mode === 'sse' && typeof this.usage === 'object' ? this.usage : undefined;
    this.mode = 'off';
    this.pending = undefined;
    if (soFar !== undefined) return this.finish(soFar, undefined, true);
    this.done = true;
  }

  // ---- JSON ----

  private keepJson(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.tail === undefined && this.bytes <= WHOLE_JSON_BYTES) {
      this.chunks.push(chunk);
      return;
    }
    // Answers name their model first: read it from the head before only the tail is kept.
    if (this.tail === undefined) this.headModel = modelIn(Buffer.concat(this.chunks).subarray(0, 4096).toString('utf8'));
    const joined = Buffer.concat(this.tail === undefined ? [...this.chunks, chunk] : [this.tail, chunk]);
    this.chunks = [];
    this.tail = joined.length > JSON_TAIL_BYTES ? Buffer.from(joined.subarray(joined.length - JSON_TAIL_BYTES)) : joined;
  }

  private endJson(): void {
    if (this.tail !== undefined) {
      const reading = usageFromTail(this.tail.toString('utf8'), this.headModel);
      return this.finish(reading, reading === 'malformed' ? 'the usage at the end of a large answer could not be read' : undefined, false);
    }
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return this.finish('malformed', 'the answer is not valid JSON', false);
    }
    const reading = readUsage(parsed);
    this.finish(reading, reading === 'malformed' ? 'usage is not {prompt_tokens, completion_tokens} as non-negative integers' : undefined, false);
  }

  // ---- Server-Sent Events ----

  private events(chunk: Buffer): Buffer {
    const pendingLength = this.pending?.length ?? 0;
    const buf = pendingLength === 0 ? chunk : Buffer.concat([this.pending!, chunk]);
    const kept: Buffer[] = [];
    let from = 0;
    let dropped = false;
    // Resume the boundary scan just before the new bytes: a "\n" at the pending end may pair with one in the chunk.
    for (let i = Math.max(0, pendingLength - 2); i < buf.length; i++) {
      if (buf[i] !== LF) continue;
      let end = -1;
      if (buf[i + 1] === LF) end = i + 2;
      else if (buf[i + 1] === CR && buf[i + 2] === LF) end = i + 3;
      if (end < 0) continue;
      const event = buf.subarray(from, end);
      if (this.event(event)) kept.push(event);
      else dropped = true;
      from = end;
      i = end - 1;
    }
    const rest = buf.subarray(from);
    this.pending = rest.length > 0 ? Buffer.from(rest) : undefined;
    if (this.pending !== undefined && this.pending.length > MAX_EVENT_BYTES) {
      // Not an event stream anyone can meter: stop, and give the client what was held.
      const held = this.pending;
      this.pending = undefined;
      this.mode = 'off';
      this.finish('malformed', `an event longer than ${MAX_EVENT_BYTES} bytes`, true);
      if (this.strip) kept.push(held);
      return this.strip ? Buffer.concat(kept) : chunk;
    }
    if (!this.strip) return chunk;
    if (!dropped) return from === buf.length ? buf : buf.subarray(0, from);
    return kept.length === 1 ? kept[0]! : Buffer.concat(kept);
  }

  /** Read one complete event; false when it is the usage-only chunk to remove. */
  private event(event: Buffer): boolean {
    if (this.firstEventAt === undefined && event.includes(DATA_PREFIX)) this.firstEventAt = performance.now();
    const at = event.indexOf(USAGE_KEY);
    if (at < 0 || isNullAfter(event, at + USAGE_KEY.length)) return true;
    let data = '';
    for (const line of event.toString('utf8').split(/\r?\n/))
      if (line.startsWith(DATA_PREFIX)) data += (data === '' ? '' : '\n') + line.slice(line[5] === ' ' ? 6 : 5);
    if (data === '' || data === '[DONE]') return true;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      this.usage = 'malformed';
      this.reason = 'a stream event mentioning usage is not valid JSON';
      return true;
    }
    const reading = readUsage(parsed);
    if (reading === undefined) return true;
    this.usage = reading;
    this.reason = reading === 'malformed' ? 'usage is not {prompt_tokens, completion_tokens} as non-negative integers' : undefined;
    const choices = (parsed as Record<string, unknown>)['choices'];
    return !(this.strip && Array.isArray(choices) && choices.length === 0);
  }

  private finish(usage: UsageReading, reason: string | undefined, streamed: boolean): void {
    if (this.done) return;
    this.done = true;
    // Called from inside the proxy's end of the answer: a metering fault must never keep the client's answer from ending.
    try {
      this.report({ usage, reason, streamed, firstEventAt: this.firstEventAt, endedAt: performance.now() });
    } catch (err) {
      this.logger.error({ err }, 'token meter failed to record an answer; the answer was served');
    }
  }
}

function modelIn(text: string): string | undefined {
  return /"model"\s*:\s*"([^"\\]{1,200})"/.exec(text)?.[1];
}

/** `"usage": null` (any spaces): the common chunk of an include_usage stream, skipped without parsing. */
function isNullAfter(buf: Buffer, at: number): boolean {
  let i = at;
  while (buf[i] === 32 || buf[i] === 58) i++;
  return buf[i] === 110 && buf[i + 1] === 117 && buf[i + 2] === 108 && buf[i + 3] === 108;
}
