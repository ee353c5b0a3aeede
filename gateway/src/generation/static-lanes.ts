import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';

/**
 * find-my-way's own path decoding (a file of the pinned find-my-way, not its public API): a path
 * with `%` is decoded before matching, and the index must match what the router would have.
 */
const { safeDecodeURI } = createRequire(import.meta.url)('find-my-way/lib/url-sanitizer.js') as {
  safeDecodeURI(path: string, useSemicolonDelimiter: boolean): { path: string };
};

type Lane = (req: IncomingMessage, res: ServerResponse) => void;

/** A route path as the router holds it, with what it leads to when the index may answer for it. */
export interface IndexCandidate {
  url: string;
  methods: readonly string[];
  /** Absent on entries that only compete (Fastify's routes, selector lanes, host-bound lanes). */
  lane?: Lane | undefined;
  /** True when the entry has a constraint (a host): it only ever competes. */
  constrained?: boolean;
}

const SLASH = 0x2f;
const QUESTION = 0x3f;
const HASH = 0x23;
const PERCENT = 0x25;

/** `/a/b` or `/a/b/*`: a path made of static characters only, with at most a final wildcard after a slash. */
function keyOf(url: string): { key: string; prefix: boolean } | undefined {
  if (url.charCodeAt(0) !== SLASH) return undefined;
  const prefix = url.endsWith('/*');
  const key = prefix ? url.slice(0, -1) : url;
  // find-my-way gives these characters meaning (parameters, wildcards, regexes, escapes); a
  // path holding one stays in the router. `%`, `?` and `#` never reach a match as written.
  if (/[:*()%?#\\]/.test(key)) return undefined;
  return { key, prefix };
}

/**
 * The lane routes find-my-way would choose without looking at another route, answered from two
 * Maps. A find-my-way entry costs ≈ 1.8 KB (radix nodes, handler storage, a compiled params
 * builder) and the router's insertion ≈ 0.2 ms; 10 000 routes `/svcN/*` held ≈ 18 MB of the
 * generation's 26. This index holds them for a Map entry each.
 *
 * Why the answers are find-my-way's (`static-lanes.test.ts` checks it against find-my-way itself
 * over random route sets and paths): find-my-way walks the path through static children first,
 * by the next character, so its static descent is fixed by the path; it tries a node's
 * parameters and wildcard only when that descent fails below the node, deepest first.
 * - A static path S is taken by a request for exactly S: the descent ends on S's node, whose
 *   handler is returned before anything else is tried.
 * - A prefix route `P*` (P ending in `/`) is taken by any path starting with P when no other
 *   route's path starts with P: the descent reaches P's node and can go no deeper (nothing is
 *   below it), and P's wildcard matches whatever is left, so nothing shallower is ever tried.
 * So an entry is indexed only when no other entry's path (any method, any constraint, Fastify's
 * routes included) starts with its own. Two indexed keys can then never both match one path.
 * Anything else — parameters, hosts, shadowed prefixes, `%`-encoded or absolute request targets —
 * goes to find-my-way as before.
 */
export class StaticLanes {
  private readonly exact = new Map<string, Entry>();
  private readonly prefixes = new Map<string, Entry>();
  /** The distinct lengths of the prefix keys, ascending: only these positions are looked up. */
  private readonly lengths: number[];

  private constructor(entries: ReadonlyArray<{ key: string; prefix: boolean; entry: Entry }>) {
    const lengths = new Set<number>();
    for (const { key, prefix, entry } of entries) {
      if (prefix) {
        this.prefixes.set(key, entry);
        lengths.add(key.length);
      } else this.exact.set(key, entry);
    }
    this.lengths = [...lengths].sort((a, b) => a - b);
  }

  /**
   * Split `candidates` into the index and the rest (`routed`: what the router must still hold).
   * `held` counts the indexed entries.
   */
  static split<C extends IndexCandidate>(candidates: readonly C[]): { index: StaticLanes; routed: C[]; held: number } {
    const paths = candidates.map((c) => (keyOf(c.url)?.key ?? c.url.replace(/[:*(].*$/s, ''))).sort();
    const indexed: Array<{ key: string; prefix: boolean; entry: Entry }> = [];
    const routed: C[] = [];
    for (const c of candidates) {
      const k = c.lane !== undefined && c.constrained !== true ? keyOf(c.url) : undefined;
      if (k === undefined || sharesPrefix(paths, k.key)) {
        routed.push(c);
        continue;
      }
      indexed.push({ ...k, entry: { methods: c.methods, lane: c.lane! } });
    }
    return { index: new StaticLanes(indexed), routed, held: indexed.length };
  }

  get size(): number {
    return this.exact.size + this.prefixes.size;
  }

  /**
   * The lane find-my-way would choose for `method` and `url`, when this index holds it; else
   * undefined. `url` is origin-form: the node rewrites an absolute-form target before routing
   * (node/request-target.ts), and anything else is left to the router.
   */
  find(method: string, url: string): Lane | undefined {
    if (url.charCodeAt(0) !== SLASH) return undefined;
    let end = url.length;
    let encoded = false;
    for (let i = 1; i < url.length; i++) {
      const c = url.charCodeAt(i);
      if (c === QUESTION || c === HASH) {
        end = i;
        break;
      }
      if (c === PERCENT) {
        encoded = true;
        break;
      }
    }
    let path: string;
    if (encoded) {
      try {
        path = safeDecodeURI(url, false).path;
      } catch {
        return undefined; // the router's onBadUrl answers it
      }
    } else path = end === url.length ? url : url.slice(0, end);
    let entry = this.exact.get(path);
    if (entry === undefined) {
      const lengths = this.lengths;
      for (let i = 0; i < lengths.length; i++) {
        const length = lengths[i]!;
        if (length > path.length) break;
        if (path.charCodeAt(length - 1) !== SLASH) continue;
        entry = this.prefixes.get(length === path.length ? path : path.slice(0, length));
        if (entry !== undefined) break;
      }
      if (entry === undefined) return undefined;
    }
    return entry.methods.includes(method) ? entry.lane : undefined;
  }
}

interface Entry {
  methods: readonly string[];
  lane: Lane;
}

/** True when some other path in `sorted` starts with `key` (the candidate's own path is one of them). */
function sharesPrefix(sorted: readonly string[], key: string): boolean {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  // Everything starting with key sorts right after it; its own entry is one of them.
  return lo + 1 < sorted.length && sorted[lo + 1]!.startsWith(key);
}
