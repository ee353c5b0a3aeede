import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startHarness } from './admin-harness.js';

test('a store outage answers 503 and logs its error once per admin request, not once per layer', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const token = await h.login();
  const path = join(h.dir, 'switchboard.json');
  const good = await readFile(path, 'utf8');
  await writeFile(path, '{ this is not JSON');
  const before = h.logs.lines.length;
  const answer = await h.api('GET', '/upstreams', { token });
  assert.equal(answer.status, 503);
  assert.equal(answer.body.type, 'urn:switchboard:problem:store-unavailable');
  const logged = h.logs.lines.slice(before).filter((line) => line.includes('not valid JSON'));
  assert.equal(logged.length, 1, `one log line for one failed request:\n${logged.join('\n')}`);
  const line = logged[0]!;
  assert.equal(JSON.parse(line).level, 40, 'at warn: the gateway keeps serving, an operator should look');
  // The cause is said once: not again as the message's cause, in a stack and in the cause's stack.
  assert.equal(line.split('Expected property name').length - 1, 1, `the parse error once in:\n${line}`);
  assert.doesNotMatch(line, /\bat FileStore\./, 'no stack trace for an outage');

  const write = await h.api('POST', '/upstreams', { token, body: { name: 'while-down', targets: [{ url: 'http://127.0.0.1:9' }] } });
  assert.equal(write.status, 503);
  assert.equal(h.logs.lines.slice(before).filter((line) => line.includes('not valid JSON')).length, 2, 'and one more for the next');

  await writeFile(path, good);
  assert.equal((await h.api('GET', '/upstreams', { token })).status, 200, 'recovers when the file is good again');
});
