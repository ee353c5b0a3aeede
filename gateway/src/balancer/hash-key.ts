import type { IncomingMessage } from 'node:http';
import type { Upstream } from '../../../spec/upstream.js';

type HashOn = NonNullable<Upstream['hashOn']>;

/** The request facts a hash key may come from. */
export interface HashKeyFacts {
  readonly clientIp: string;
  readonly headers: IncomingMessage['headers'];
  /** Path and query as received (`req.url`). */
  readonly url: string | undefined;
  readonly consumerName: string | undefined;
}

/** Computes one request's hash key; undefined when the request lacks it (the picker falls back). */
export type HashKeyReader = (facts: HashKeyFacts) => string | undefined;

/**
 * Turns an upstream's `hashOn` into a reader, once per configuration: the header name is
 * lower-cased and the source resolved here, so the per-request work is a property read or one
 * scan of the cookie header / query string. Only the first value of a repeated header or query
 * parameter counts, so a client cannot steer its key by appending a second one.
 */
export function compileHashKey(hashOn: HashOn): HashKeyReader {
  const name = hashOn.name ?? '';
  switch (hashOn.source) {
    case 'header': {
      const header = name.toLowerCase();
      return (f) => {
        const v = f.headers[header];
        return Array.isArray(v) ? v[0] : v;
      };
    }
    case 'cookie':
      return (f) => {
        const v = f.headers.cookie;
        return v === undefined ? undefined : readCookie(v, name);
      };
    case 'query':
      return (f) => (f.url === undefined ? undefined : readQuery(f.url, name));
    case 'consumer':
      return (f) => f.consumerName;
    default:
      return (f) => f.clientIp;
  }
}

const compiled = new WeakMap<HashOn, HashKeyReader>();

/**
 * The per-request entry point the proxy calls (generation/compile.ts) when the upstream has
 * `hashOn`; callers skip it entirely when `hashOn` is absent. The compiled reader is cached per
 * `hashOn` object, which lives as long as its configuration.
 */
export function hashKeyFor(
  hashOn: HashOn,
  req: IncomingMessage,
  clientIp: string,
  consumerName: string | undefined,
): string | undefined {
  let reader = compiled.get(hashOn);
  if (!reader) compiled.set(hashOn, (reader = compileHashKey(hashOn)));
  return reader({ clientIp, headers: req.headers, url: req.url, consumerName });
}

/**
 * The value of cookie `name` in a Cookie header (RFC 6265 §5.4: "a=1; b=2"), or undefined.
 * Surrounding double quotes are removed; the value is not percent-decoded (a key only has to be
 * stable, not pretty). Repeated Cookie headers arrive joined with "; " by Node.
 */
export function readCookie(header: string, name: string): string | undefined {
  if (name === '') return undefined;
  const n = header.length;
  let pos = 0;
  while (pos < n) {
    while (pos < n && (header.charCodeAt(pos) === 32 || header.charCodeAt(pos) === 9)) pos++;
    let end = header.indexOf(';', pos);
    if (end === -1) end = n;
    const eq = header.indexOf('=', pos);
    if (eq !== -1 && eq < end && eq - pos >= name.length) {
      // Name may be followed by spaces before "=".
      let nameEnd = eq;
      while (nameEnd > pos && header.charCodeAt(nameEnd - 1) === 32) nameEnd--;
      if (nameEnd - pos === name.length && header.startsWith(name, pos)) {
        let vs = eq + 1;
        let ve = end;
        while (vs < ve && header.charCodeAt(vs) === 32) vs++;
        while (ve > vs && header.charCodeAt(ve - 1) === 32) ve--;
        if (ve - vs >= 2 && header.charCodeAt(vs) === 34 && header.charCodeAt(ve - 1) === 34) {
          vs++;
          ve--;
        }
        return header.slice(vs, ve);
      }
    }
    pos = end + 1;
  }
  return undefined;
}

/** The first value of query parameter `name` in a request URL, decoded as a form would be. */
export function readQuery(url: string, name: string): string | undefined {
  const q = url.indexOf('?');
  if (q === -1 || name === '') return undefined;
  let pos = q + 1;
  const hash = url.indexOf('#', pos);
  const n = hash === -1 ? url.length : hash;
  while (pos < n) {
    let end = url.indexOf('&', pos);
    if (end === -1 || end > n) end = n;
    const eq = url.indexOf('=', pos);
    const keyEnd = eq !== -1 && eq < end ? eq : end;
    if (keyMatches(url, pos, keyEnd, name)) return decode(keyEnd === end ? '' : url.slice(keyEnd + 1, end));
    pos = end + 1;
  }
  return undefined;
}

function keyMatches(url: string, start: number, end: number, name: string): boolean {
  if (end - start === name.length && url.startsWith(name, start)) return true;
  // An encoded key ("session%5Fid") is rare; decode only when it could be one.
  const pct = url.indexOf('%', start);
  const plus = url.indexOf('+', start);
  if (!((pct !== -1 && pct < end) || (plus !== -1 && plus < end))) return false;
  return decode(url.slice(start, end)) === name;
}

function decode(s: string): string {
  const plus = s.includes('+') ? s.replace(/\+/g, ' ') : s;
  if (!plus.includes('%')) return plus;
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}
