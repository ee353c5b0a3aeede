/**
 * OpenAI's rate-limit response headers (platform.openai.com/docs/guides/rate-limits):
 * `x-ratelimit-limit-*`, `x-ratelimit-remaining-*` and `x-ratelimit-reset-*` for `requests` and
 * `tokens`, the reset written as a Go-style duration ("20ms", "1s", "6m0s"), which OpenAI's SDKs
 * and LiteLLM's clients read as is.
 */
export function resetDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total < 1000) return `${total}ms`;
  const seconds = Math.ceil(total / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

export interface HeaderSink {
  header(name: string, value: string | number): unknown;
}

/** The three headers of one kind (`requests` or `tokens`). */
export function setOpenAiLimitHeaders(reply: HeaderSink, kind: 'requests' | 'tokens', limit: number, remaining: number, resetMs: number): void {
  reply.header(`x-ratelimit-limit-${kind}`, limit);
  reply.header(`x-ratelimit-remaining-${kind}`, Math.max(0, remaining));
  reply.header(`x-ratelimit-reset-${kind}`, resetDuration(resetMs));
}
