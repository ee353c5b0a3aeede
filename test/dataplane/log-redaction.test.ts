import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { pinoAccessLog, type AccessEntry } from '../../gateway/src/contracts/access-log.js';
import { createLogger, REDACT } from '../../gateway/src/logger.js';
import { LogLines } from '../helpers/log-lines.js';

function capture() {
  const sink = new LogLines();
  return { lines: sink.lines as Array<Record<string, any>>, logger: createLogger('info', sink as unknown as pino.DestinationStream) };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

/** Every field an access line can carry: `Required` so a field added to AccessEntry must be added here. */
const everyField: Required<AccessEntry> = {
  requestId: 'r-1', method: 'GET', path: '/v1/x', status: 200, durationMs: 1.5, route: 'r', target: 'http://10.0.0.1:8000',
  consumer: 'acme', clientIp: '127.0.0.1', attempts: 1, traceId: '0af7651916cd43dd8448eb211c80319c',
};

test('the product logger censors credentials wherever they appear, also after an access log was made from it', async () => {
  const { lines, logger } = capture();
  pinoAccessLog(logger).write(everyField);
  logger.info({ req: { headers: { authorization: 'Bearer t0k', 'x-api-key': 'sb_live_k3y' } }, user: { password: 'pw', passwordHash: 'h' }, token: 'tok' }, 'request');
  await flush();
  const text = JSON.stringify(lines);
  for (const secret of ['t0k', 'sb_live_k3y', '"pw"', '"h"', '"tok"']) assert.ok(!text.includes(secret), `${secret} reached the log: ${text}`);
  assert.equal(lines[1]!.req.headers.authorization, '[redacted]');
  assert.equal(lines[1]!.user.password, '[redacted]');
});

test('an access line skips redaction because none of its fields is one the censor names, and it carries all of them', async () => {
  // The censor's leaf names: `req.headers["x-api-key"]` → x-api-key, `*.password` → password.
  const censored = new Set(REDACT.map((path) => path.replace(/^.*[.[]"?/, '').replace(/"?\]$/, '')));
  for (const field of Object.keys(everyField)) assert.ok(!censored.has(field), `access field "${field}" is a censored name: the access log must not skip redaction`);
  const { lines, logger } = capture();
  pinoAccessLog(logger).write(everyField);
  await flush();
  assert.equal(lines.length, 1);
  const { level, time, pid, kind, msg, ...fields } = lines[0]!;
  assert.deepEqual({ level, kind, msg, pid }, { level: 30, kind: 'access', msg: 'access', pid: process.pid });
  assert.equal(typeof time, 'number');
  assert.deepEqual(fields, everyField);
});
