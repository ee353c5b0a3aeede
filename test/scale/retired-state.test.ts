/**
 * A revision's configuration lives as long as a generation serves it, not as long as the node.
 * The stage families' node-wide services (the rate-limit counter store, the key last-use batch,
 * the token budgets) are made by the first generation that needs them and outlive it; a service
 * whose closures captured that generation's context kept its whole configuration (every route,
 * consumer and key: ≈ 5 MB at 10 000 routes) for the life of the process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import type { ConfigState } from '../../gateway/src/store/port.js';
import { FileStore } from '../../gateway/src/store/file-store.js';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { startEchoUpstream } from '../helpers/echo-upstream.js';
import { startNode, tempStore } from './scale-fixtures.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A file store that remembers, weakly, every configuration it handed out. */
class TrackingStore extends FileStore {
  readonly handedOut: Array<{ revision: number; state: WeakRef<ConfigState> }> = [];

  override async read(): Promise<ConfigState> {
    const state = await super.read();
    this.handedOut.push({ revision: state.revision, state: new WeakRef(state) });
    return state;
  }
}

function config(upstreamUrl: string, generation: number) {
  return {
    upstreams: [{ name: 'pool', targets: [{ url: upstreamUrl }] }],
    routes: [
      // Every stage family with a node-wide service: api-key (last-use batch), rate limit and
      // quota (counter store), token limit (budgets and usage ledger).
      { name: 'keyed', upstream: 'pool', paths: ['/v1/*'], methods: ['GET'], auth: 'api-key', rateLimit: { max: 1000, windowMs: 60_000, by: 'consumer' }, tokenLimit: { max: 100_000, windowMs: 60_000 } },
      { name: `plain-${generation}`, upstream: 'pool', paths: [`/g${generation}/*`], methods: ['GET'] },
    ],
    consumers: [{ name: 'acme', quota: { max: 1000, period: 'day' } }],
  };
}

test('a replaced revision is released once its generation has retired', async (t) => {
  const upstream = await startEchoUpstream();
  t.after(() => upstream.close());
  const { storePath, dispose, store: filler } = await tempStore();
  await replaceConfig(filler, config(upstream.url, 1), 'test');
  const { key } = await issueKey(filler, 'acme', { actor: 'test' });
  await filler.close();
  const store = new TrackingStore(storePath, { pollMs: 50 });
  await store.open();
  const gateway = await startNode(store, storePath, dispose);
  t.after(() => gateway.close());
  const url = gateway.node.url;

  // Each generation's stages run (and make their node-wide services on first use).
  const served = async (path: string) => {
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${url}${path}`, { headers: { 'x-api-key': key } });
      await res.arrayBuffer();
      if (res.status === 200) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`${path} never answered 200`);
  };
  await served('/v1/a');
  await served('/g1/a');
  for (const generation of [2, 3]) {
    await replaceConfig(store, config(upstream.url, generation), 'test');
    await served(`/g${generation}/a`);
    await served('/v1/a');
  }
  const inForce = gateway.node.revision;
  assert.ok(store.handedOut.some((r) => r.revision < inForce), 'older revisions were read');

  // Retired generations close when idle; give them a moment, then collect.
  let kept: number[] = [];
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 100));
    gc();
    kept = store.handedOut.filter((r) => r.revision < inForce && r.state.deref() !== undefined).map((r) => r.revision);
    if (kept.length === 0) break;
  }
  assert.deepEqual(kept, [], `configurations of replaced revisions still held (revision in force ${inForce})`);
});
