import { createHash, type Hash } from 'node:crypto';

/**
 * The simulated worker's prefix cache, modelled on vLLM's automatic prefix caching: the prompt
 * is cut into blocks of a fixed size (vLLM: 16 tokens), each block is named by a hash of itself
 * and of every block before it (so a block is reusable only behind the same prefix), and the
 * blocks live in an LRU of fixed capacity (the KV cache's memory). A request reuses the longest
 * run of leading blocks found; only full blocks are cached. Prefill then costs only the rest.
 */
export class PrefixCache {
  readonly #lru = new Map<string, true>();
  readonly #capacity: number;
  readonly #blockChars: number;
  /** Prompt tokens looked up, and those found cached (vLLM's prefix_cache_queries / _hits). */
  queries = 0;
  hits = 0;

  /** `capacityBlocks` 0 = no cache: every prompt is computed in full. */
  constructor(capacityBlocks: number, blockChars: number) {
    this.#capacity = capacityBlocks;
    this.#blockChars = Math.max(1, blockChars);
  }

  get blocks(): number {
    return this.#lru.size;
  }

  /**
   * A prompt is prefilled: returns how many of its characters were cached, and caches all of its
   * full blocks, evicting the least recently used beyond capacity.
   */
  prefill(prompt: string): number {
    const size = this.#blockChars;
    const full = Math.floor(prompt.length / size);
    let cachedChars = 0;
    if (this.#capacity > 0 && full > 0) {
      const chain: Hash = createHash('sha1');
      const keys: string[] = [];
      let missed = false;
      for (let i = 0; i < full; i++) {
        chain.update(prompt.slice(i * size, (i + 1) * size));
        const key = chain.copy().digest('base64');
        keys.push(key);
        if (!missed && this.#lru.has(key)) cachedChars += size;
        else missed = true;
      }
      // Touched last block first, so the leading blocks are the most recently used: eviction
      // takes a prompt's tail before its head (vLLM frees a sequence's blocks in reverse for the
      // same reason), since a cached tail behind a missing head is of no use.
      for (let i = keys.length - 1; i >= 0; i--) {
        this.#lru.delete(keys[i]!);
        this.#lru.set(keys[i]!, true);
      }
      while (this.#lru.size > this.#capacity) this.#lru.delete(this.#lru.keys().next().value as string);
    }
    this.queries += tokensOf(prompt.length);
    this.hits += tokensOf(cachedChars);
    return cachedChars;
  }
}

/** About four characters a token for English text, as the simulator counts usage. */
export function tokensOf(chars: number): number {
  return Math.ceil(chars / 4);
}
