import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { ResponseMeter, type MeterReport } from '../../plugins/token-meter/response-meter.js';

const logger = pino({ level: 'silent' });
const SSE = { 'content-type': 'text/event-stream' };
const event = (payload: object | string, eol = '\n') => `data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}${eol}${eol}`;
const token = (text: string) => ({ id: 'c', model: 'm', choices: [{ index: 0, delta: { content: text } }], usage: null });
const usageOnly = { id: 'c', model: 'm', choices: [], usage: { prompt_tokens: 11, completion_tokens: 2, total_tokens: 13 } };

/** Feed `body` in pieces cut at `cuts`; returns what the client got and what was reported. */
function pass(body: string, cuts: number[], strip: boolean, headers: Record<string, string> = SSE): { out: string; reports: MeterReport[] } {
  const reports: MeterReport[] = [];
  const meter = new ResponseMeter(logger, (r) => reports.push(r));
  meter.strip = strip;
  meter.started(200, headers);
  const bytes = Buffer.from(body);
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(meter.data(bytes.subarray(from, cut)));
    from = cut;
  }
  const held = meter.ended();
  if (held) out.push(held);
  return { out: Buffer.concat(out).toString(), reports };
}

describe('the token meter on a passing answer', () => {
  const kept = event(token('hé')) + event(token(' ✓'));
  const body = kept + event(usageOnly) + event('[DONE]');

  test('removes the usage-only chunk however the stream is cut into chunks, and reads its usage once', () => {
    const bytes = Buffer.byteLength(body);
    for (let a = 1; a < bytes; a += 3)
      for (const b of [a + 1, a + 7, a + 40].filter((x) => x < bytes)) {
        const { out, reports } = pass(body, [a, b], true);
        assert.equal(out, kept + event('[DONE]'), `cut at ${a}, ${b}`);
        assert.equal(reports.length, 1);
        assert.deepEqual(reports[0]!.usage, { prompt: 11, completion: 2, model: 'm' });
      }
  });

  test('without strip every byte passes unchanged and at once', () => {
    const { out, reports } = pass(body, [5, 50, 51], false);
    assert.equal(out, body);
    assert.deepEqual(reports[0]!.usage, { prompt: 11, completion: 2, model: 'm' });
  });

  test('CRLF line endings and a last event without its blank line are read too', () => {
    const crlf = event(token('a'), '\r\n') + `data: ${JSON.stringify(usageOnly)}`;
    const { out, reports } = pass(crlf, [9], true);
    assert.equal(out, event(token('a'), '\r\n'));
    assert.equal((reports[0]!.usage as { prompt: number }).prompt, 11);
  });

  test('the last usage of a stream wins (continuous usage stats are billed once, not summed)', () => {
    const growing = event({ ...token('a'), usage: { prompt_tokens: 11, completion_tokens: 1 } }) + event({ ...token('b'), usage: { prompt_tokens: 11, completion_tokens: 2 } });
    const { reports } = pass(growing, [], false);
    assert.equal(reports.length, 1);
    assert.deepEqual(reports[0]!.usage, { prompt: 11, completion: 2, model: 'm' });
  });

  test('a JSON answer larger than the kept copy is read from its tail', () => {
    const big = JSON.stringify({ id: 'c', model: 'm', choices: [{ message: { content: 'x'.repeat(2 * 1024 * 1024) } }], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } });
    const cuts = [];
    for (let i = 65_536; i < big.length; i += 65_536) cuts.push(i);
    const { out, reports } = pass(big, cuts, false, { 'content-type': 'application/json' });
    assert.equal(out.length, big.length);
    assert.deepEqual(reports[0]!.usage, { prompt: 3, completion: 4, model: 'm' });
  });

  test('error answers, other content types and cut answers report nothing; compressed ones report unreadable usage', () => {
    const reports: MeterReport[] = [];
    const meter = (status: number, headers: Record<string, string>) => {
      const m = new ResponseMeter(logger, (r) => reports.push(r));
      m.started(status, headers);
      return m;
    };
    meter(500, { 'content-type': 'application/json' }).ended();
    meter(200, { 'content-type': 'text/plain' }).ended();
    const cut = meter(200, SSE);
    cut.data(Buffer.from(event(token('a'))));
    cut.aborted();
    assert.equal(reports.length, 0);
    meter(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).ended();
    assert.equal(reports.length, 1);
    assert.equal(reports[0]!.usage, 'malformed');
  });
});

describe('the token meter on a stream cut before its end', () => {
  const withUsage = (completion: number) => ({ ...token('x'), usage: { prompt_tokens: 11, completion_tokens: completion, total_tokens: 11 + completion } });

  test('bills the last usage continuous usage stats gave before the cut', () => {
    const reports: MeterReport[] = [];
    const meter = new ResponseMeter(logger, (r) => reports.push(r));
    meter.started(200, SSE);
    // Three whole events and part of a fourth: the part never counts.
    meter.data(Buffer.from(event(withUsage(1)) + event(withUsage(2)) + event(withUsage(3)) + 'data: {"usage": {"prompt_tokens": 11, "compl'));
    meter.aborted();
    assert.equal(reports.length, 1);
    assert.deepEqual(reports[0]!.usage, { prompt: 11, completion: 3, model: 'm' });
    assert.equal(reports[0]!.streamed, true);
    meter.aborted();
    assert.equal(reports.length, 1, 'once');
  });

  test('bills nothing when no usage came before the cut, and nothing for a cut JSON answer', () => {
    const reports: MeterReport[] = [];
    const sse = new ResponseMeter(logger, (r) => reports.push(r));
    sse.started(200, SSE);
    sse.data(Buffer.from(event(token('a')) + event(token('b'))));
    sse.aborted();
    const json = new ResponseMeter(logger, (r) => reports.push(r));
    json.started(200, { 'content-type': 'application/json' });
    json.data(Buffer.from('{"id":"c","usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}'));
    json.aborted();
    assert.deepEqual(reports, []);
  });
});
