import type { FastifyBaseLogger } from 'fastify';
import type { Caller, GenerationContext, StageServices } from '../../gateway/src/generation/route-stage.js';
import { keyIndexFor, type KeyIndex } from '../../gateway/src/keys/key-index.js';
import { KeyUsageBatch } from '../../gateway/src/keys/key-usage.js';
import { sharedService } from '../stage-plugin.js';

/**
 * API-key verification for the auth stage: the generation's key index (Map by lookup prefix,
 * then one constant-time HMAC comparison; verified keys cached) and the node's last-use batch.
 * Synchronous and allocation-free for a key already seen in this generation.
 */
export class ApiKeyVerifier {
  private readonly index: KeyIndex;
  private readonly usage: KeyUsageBatch;

  constructor(ctx: GenerationContext) {
    this.index = keyIndexFor(ctx.state);
    this.usage = keyUsage(ctx.services);
  }

  verify(key: string): Caller | undefined {
    const now = Date.now();
    const entry = this.index.verify(key, now);
    if (entry === undefined) return undefined;
    this.usage.touch(entry.id, now);
    return entry.caller;
  }
}

/**
 * The node's last-use batch, made from the node's services alone: it outlives the generation that
 * first needs it, and a closure over that generation's context would keep its configuration.
 */
function keyUsage(services: StageServices): KeyUsageBatch {
  return sharedService(services, 'key-usage', () => {
    const store = services.store;
    const batch = new KeyUsageBatch(() => store, services.logger as FastifyBaseLogger);
    // Last-use times still pending are written on shutdown rather than lost.
    services.onClose(() => batch.flush());
    return batch;
  });
}
