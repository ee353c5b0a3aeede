import { issueKey } from '../../gateway/src/keys/key-service.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { caughtUp } from '../plugins/fixtures.js';

export interface KeyedAndOpen {
  /** Records what reaches the keyed route `/v1/*` (auth api-key). */
  keyed: EchoUpstream;
  /** Records what reaches the open routes. */
  open: EchoUpstream;
  gw: TestGateway;
  /** A valid key of the one consumer, acme. */
  key: string;
  close(): Promise<void>;
}

/**
 * The edge tests' stage: `/v1/*` wants a key, the `openRoutes` (on the `open` upstream) do not,
 * and each upstream records exactly the request-target it receives.
 */
export async function startKeyedAndOpen(openRoutes: Array<Record<string, unknown>>): Promise<KeyedAndOpen> {
  const keyed = await startEchoUpstream('keyed');
  const open = await startEchoUpstream('open');
  const gw = await startGateway({
    upstreams: [
      { name: 'keyed', targets: [{ url: keyed.url }] },
      { name: 'open', targets: [{ url: open.url }] },
    ],
    routes: [{ name: 'v1', methods: ['GET'], paths: ['/v1/*'], upstream: 'keyed', auth: 'api-key' }, ...openRoutes],
    consumers: [{ name: 'acme' }],
  });
  const key = (await issueKey(gw.store, 'acme', { actor: 'test' })).key;
  await caughtUp(gw);
  return {
    keyed,
    open,
    gw,
    key,
    async close() {
      await gw.close();
      await keyed.close();
      await open.close();
    },
  };
}
