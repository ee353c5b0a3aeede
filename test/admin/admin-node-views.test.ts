import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { startHarness, upstreamBody } from './admin-harness.js';

/** An admin listener with no gateway node beside it, whose collections hold an upstream and a stream no node runs. */
async function withoutNode(t: TestContext) {
  const h = await startHarness();
  t.after(() => h.close());
  const token = await h.login();
  for (const [path, body] of [['/upstreams', upstreamBody('gpu')], ['/streams', { name: 'db', port: 15432, upstream: 'gpu' }]] as const)
    assert.equal((await h.api('POST', path, { token, body })).status, 201, path);
  return { h, token };
}

const NOT_RUN = (what: string) => `${what} is not in force on this node yet (its revision is still loading or failed to compile)`;
const CASES = [
  ['/upstreams/gpu/health', 'not-in-force', NOT_RUN('upstream "gpu"')],
  ['/upstreams/gpu/queue', 'not-in-force', NOT_RUN('upstream "gpu"')],
  ['/streams/db/status', 'not-in-force', NOT_RUN('stream "db"')],
  ['/upstreams/nope/health', 'not-found', 'no upstream with id or name "nope"'],
  ['/upstreams/nope/queue', 'not-found', 'no upstream with id or name "nope"'],
  ['/streams/nope/status', 'not-found', 'no stream with id or name "nope"'],
] as const;

test('per-node views answer 404 not-in-force naming an item this node does not run, and not-found naming a reference the configuration does not hold', async (t) => {
  const { h, token } = await withoutNode(t);
  for (const [path, type, detail] of CASES) {
    const answer = await h.api('GET', path, { token });
    assert.equal(answer.status, 404, `${path}: ${answer.text}`);
    assert.equal(answer.body.type, `urn:switchboard:problem:${type}`, path);
    assert.equal(answer.body.detail, detail, path);
  }
});
