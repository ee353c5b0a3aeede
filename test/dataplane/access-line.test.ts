import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { accessLine, bufferedAccessLog, pinoAccessLog, type AccessEntry } from '../../gateway/src/contracts/access-log.js';
import { createLogger } from '../../gateway/src/logger.js';
import { LogLines } from '../helpers/log-lines.js';

// The buffered access log (what `npm start` writes to stdout) formats its lines by hand
// (contracts/access-log.ts); these hold every line to what pino itself writes for the same entry.

const entries: AccessEntry[] = [
  {
    requestId: 'r-1', method: 'GET', path: '/v1/x', status: 200, durationMs: 1.23456, route: 'r', target: 'http://10.0.0.1:8000',
    consumer: 'acme', clientIp: '127.0.0.1', attempts: 1, traceId: '0af7651916cd43dd8448eb211c80319c',
  },
  // What the gateway answers itself: no route, target or consumer.
  { requestId: 'abc-2', method: '-', path: '-', status: 400, durationMs: 0, route: undefined, target: undefined, consumer: undefined, clientIp: '::1', attempts: 0 },
  // Strings JSON must escape: quotes, backslashes, control characters, lone surrogates, non-ASCII.
  {
    requestId: 'a"b\\c', method: 'PROPFIND', path: '/p\u0000a\tb\n\u2028"é中\ud800', status: 502, durationMs: 120000.999, route: 'rou"te',
    target: 'http://[::1]:9/', consumer: 'Zoë \u001f', clientIp: '2001:db8::1', attempts: 3, traceId: undefined,
  },
  { requestId: 'r-4', method: 'POST', path: '/', status: 504, durationMs: Number.NaN, route: 'r', target: undefined, consumer: undefined, clientIp: '', attempts: 2 },
];

async function pinoLines(): Promise<Array<Record<string, unknown>>> {
  const sink = new LogLines();
  const log = pinoAccessLog(createLogger('info', sink as unknown as pino.DestinationStream));
  for (const e of entries) log.write(e);
  await new Promise((resolve) => setImmediate(resolve));
  return sink.lines as Array<Record<string, unknown>>;
}

test('a hand-formatted access line is what pino writes for the same entry, field for field', async () => {
  const expected = await pinoLines();
  assert.equal(expected.length, entries.length);
  for (const [n, entry] of entries.entries()) {
    const line = accessLine(entry, process.pid, 1_700_000_000_123);
    assert.ok(line.endsWith('}\n') && !line.slice(0, -1).includes('\n'), `one line: ${line}`);
    const got = JSON.parse(line) as Record<string, unknown>;
    assert.equal(got.time, 1_700_000_000_123);
    assert.deepEqual({ ...got, time: 0 }, { ...expected[n], time: 0 }, `entry ${n}`);
    // The keys pino leads with come first, and msg last, as in every other line of the node's log.
    assert.deepEqual(Object.keys(got).slice(0, 4), ['level', 'time', 'pid', 'kind']);
    assert.equal(Object.keys(got).at(-1), 'msg');
  }
});

test('the buffered access log writes whole lines to its file descriptor, and none at LOG_LEVEL=warn', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-access-'));
  try {
    for (const level of ['info', 'warn'] as const) {
      const file = join(dir, `${level}.log`);
      const fd = openSync(file, 'a');
      const log = bufferedAccessLog(createLogger(level, pino.destination({ dest: join(dir, 'node.log'), sync: true })), fd);
      for (const e of entries) log.write(e);
      log.flush!();
      closeSync(fd);
      const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
      if (level === 'warn') {
        assert.deepEqual(lines, [], 'access lines are info lines');
        continue;
      }
      assert.deepEqual(
        lines.map((l) => (JSON.parse(l) as AccessEntry).requestId),
        entries.map((e) => e.requestId),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
