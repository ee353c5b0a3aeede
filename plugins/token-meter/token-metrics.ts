import type { GenerationContext } from '../../gateway/src/generation/route-stage.js';
import { Counter, Histogram } from '../../gateway/src/metrics/prometheus.js';
import { sharedService } from '../stage-plugin.js';

/** Time to first token: cache hits and short prompts (tens of ms) to long prefills (a minute). */
const TTFT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Time per output token: fast decoders (a few ms) to loaded, slow GPUs (a second). */
const TPOT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export interface TokenMetrics {
  tokens: Counter;
  unknown: Counter;
  ttft: Histogram;
  tpot: Histogram;
}

/** The token meter's series, registered once on the node's registry (they outlive generations). */
export function tokenMetrics(ctx: GenerationContext): TokenMetrics {
  return sharedService(ctx.services, 'token-metrics', () => {
    const registry = ctx.services.metrics.registry;
    return {
      tokens: registry.register(new Counter('switchboard_tokens_total', "Tokens in metered answers' usage, by route, consumer, model and kind (prompt, completion).")),
      unknown: registry.register(
        new Counter('switchboard_token_usage_unknown_total', 'Metered answers whose usage was malformed or unreadable (logged, billed nothing), by route and consumer.'),
      ),
      ttft: registry.register(
        new Histogram('switchboard_time_to_first_token_seconds', "Streamed answers: from the request's arrival to the first event from the worker, by route.", TTFT_BUCKETS),
      ),
      tpot: registry.register(
        new Histogram('switchboard_time_per_output_token_seconds', 'Streamed answers: from the first event to the last, per completion token after the first, by route.', TPOT_BUCKETS),
      ),
    };
  });
}
