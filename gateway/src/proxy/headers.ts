import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { normalizeAddress } from '../balancer/client-ip.js';

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection, not the message, so a proxy
 * must not forward them. `host` is also dropped: undici sets the upstream's own, and the
 * client's goes upstream as x-forwarded-host (Kong's default, nginx's $proxy_host).
 * `expect` is answered by this hop (Node sends 100-continue itself).
 */
const REQUEST_DROP: Record<string, true> = {
  connection: true,
  'keep-alive': true,
  'proxy-connection': true,
  'proxy-authenticate': true,
  'proxy-authorization': true,
  te: true,
  trailer: true,
  'transfer-encoding': true,
  upgrade: true,
  host: true,
  expect: true,
  'x-forwarded-for': true,
  'x-forwarded-proto': true,
  'x-forwarded-host': true,
  'x-request-id': true,
  'x-consumer-name': true,
};

const RESPONSE_DROP: Record<string, true> = {
  connection: true,
  'keep-alive': true,
  'proxy-connection': true,
  'proxy-authenticate': true,
  te: true,
  trailer: true,
  'transfer-encoding': true,
  upgrade: true,
};

/** Headers named in `Connection: a, b` are hop-by-hop too. */
function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (!value) return undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  if (text === 'keep-alive' || text === 'close') return undefined;
  const tokens = new Set<string>();
  for (const t of text.split(',')) {
    const token = t.trim().toLowerCase();
    if (token && token !== 'close' && token !== 'keep-alive') tokens.add(token);
  }
  return tokens.size ? tokens : undefined;
}

export interface ForwardedFacts {
  clientIp: string;
  proto: string;
  requestId: string;
  consumerName: string | undefined;
  /** Headers a plugin consumed (credentials) and that must not reach the upstream. */
  remove: readonly string[] | undefined;
}

export function upstreamRequestHeaders(req: IncomingMessage, facts: ForwardedFacts): Record<string, string | string[]> {
  const source: IncomingHttpHeaders = req.headers;
  const extra = connectionTokens(source.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in source) {
    if (REQUEST_DROP[name] === true || (extra && extra.has(name))) continue;
    // HTTP/2 pseudo-headers (:method, :path, :authority, :scheme; RFC 9113 §8.3) describe this hop's request line.
    if (name.charCodeAt(0) === 0x3a) continue;
    const value = source[name];
    if (value !== undefined) out[name] = value;
  }
  if (facts.remove) for (const name of facts.remove) delete out[name];
  // `te: trailers` is the one TE an HTTP/2 hop may carry (RFC 9113 §8.2.2); gRPC servers require it,
  // and the gateway relays trailers, so the promise holds on the next hop too. Over HTTP/1.1 TE
  // stays hop-by-hop (RFC 9110 §10.1.4).
  if (source.te === 'trailers' && req.httpVersionMajor === 2) out.te = 'trailers';
  // Each hop appends the address it received the request from, not the client it believes in:
  // with trusted proxies in front those differ, and the chain must stay a chain.
  const prior = source['x-forwarded-for'];
  const peer = normalizeAddress(req.socket.remoteAddress ?? '');
  out['x-forwarded-for'] = prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${peer}` : peer;
  out['x-forwarded-proto'] = facts.proto;
  if (source.host) out['x-forwarded-host'] = source.host;
  out['x-request-id'] = facts.requestId;
  if (facts.consumerName) out['x-consumer-name'] = facts.consumerName;
  return out;
}

/**
 * One Vary list from two (RFC 9110 §12.5.5): tokens compared case-insensitively, each once, in
 * first-seen order; `*` absorbs everything. The gateway's `Vary: Origin` (CORS) must join the
 * upstream's `Vary: Accept-Encoding`, not replace it, or a shared cache serves one client's
 * variant to another.
 */
export function mergeVary(a: string | string[] | undefined, b: string | string[] | undefined): string | undefined {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const value of [a, b]) {
    if (value === undefined) continue;
    for (const part of Array.isArray(value) ? value : [value])
      for (const raw of part.split(',')) {
        const token = raw.trim();
        if (token === '') continue;
        if (token === '*') return '*';
        const key = token.toLowerCase();
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(token);
      }
  }
  return out.length ? out.join(', ') : undefined;
}

export function clientResponseHeaders(
  upstream: Record<string, string | string[] | undefined>,
  requestId: string,
  extra: Record<string, unknown> | undefined,
): Record<string, string | string[] | number> {
  const tokens = connectionTokens(upstream.connection);
  const out: Record<string, string | string[] | number> = {};
  for (const name in upstream) {
    if (RESPONSE_DROP[name] === true || (tokens && tokens.has(name))) continue;
    const value = upstream[name];
    if (value !== undefined) out[name] = value;
  }
  if (extra)
    for (const name in extra) {
      const value = extra[name] as string | string[];
      const prior = out[name];
      // The gateway's cookies (stickiness) and Vary tokens (CORS) join the upstream's; they must not replace them.
      if (name === 'set-cookie' && prior !== undefined) out[name] = ([] as string[]).concat(prior as string | string[], value);
      else if (name === 'vary' && prior !== undefined) out[name] = mergeVary(prior as string | string[], value)!;
      else out[name] = value;
    }
  out['x-request-id'] = requestId;
  return out;
}
