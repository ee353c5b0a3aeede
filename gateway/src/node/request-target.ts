import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIPv6 } from 'node:net';
import { problem, writeProblem } from '../errors.js';
import { newRequestId } from '../generation/request-id.js';

/**
 * The request-target and Host as the gateway reads them, decided once at the node's entry so
 * that the router, every stage and the upstream see one and the same path.
 *
 * A proxy that matches a route on one reading of the path and forwards bytes the upstream
 * reads another way lets `/public/../v1/x` walk past `/v1/*`'s key check (nginx, most
 * frameworks, normalize before routing). So, before routing:
 * - RFC 3986 §6.2.2.2: percent-escapes of unreserved characters are decoded (`%2e` → `.`,
 *   `%7E` → `~`), every other escape stays encoded with its hex in upper case (§6.2.2.1);
 * - RFC 3986 §5.2.4: dot-segments are removed, then `//` runs are merged into one `/` (nginx's
 *   `merge_slashes on`, Envoy's `merge_slashes`);
 * - refused with 400: an encoded slash or backslash (`%2F`, `%5C`) or a raw backslash — the
 *   upstream may read either as a separator (Envoy's `path_with_escaped_slashes_action:
 *   REJECT_REQUEST`); an encoded NUL; a broken escape; a fragment; a dot-segment carrying a
 *   `;parameter` (`..;`), which Tomcat and Spring read as `..`. Any other `;` is an ordinary
 *   character: the router does not split on it, and neither does normalization;
 * - RFC 9112 §3.2.2: an absolute-form target (`http://host/path`) becomes origin-form, and its
 *   authority replaces Host;
 * - RFC 9112 §3.2: two Host headers, or one that is not `host[:port]`, are refused with 400,
 *   so a path smuggled in Host never reaches the upstream as x-forwarded-host;
 * - only HTTP/1.x: Node's parser takes a bare `GET /x` line as HTTP/0.9 (and `HTTP/2.0` text)
 *   and would have it proxied as HTTP/1.1.
 * The query string goes upstream exactly as sent.
 *
 * Hand-written rather than `new URL()`: WHATWG URL parsing decodes nothing, treats `\` as `/`
 * only for special schemes and allocates an object per request; the common path — no `%`, no
 * `.` or `/` right after a `/`, no `\` or `#` — costs one scan of the path, one of the Host
 * header and a look at the raw header names, with no allocation (test/edge/request-target-
 * bench.ts measures it beside a router lookup).
 */
export interface Refusal {
  readonly code: 'bad-request-target' | 'bad-host' | 'bad-http-version';
  readonly detail: string;
}

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const BACKSLASH = 0x5c;
const HASH = 0x23;
const QUESTION = 0x3f;

function badTarget(detail: string): Refusal {
  return { code: 'bad-request-target', detail };
}

/** Characters the path scan stops at: `?` ends the path, the rest may need normalizing. */
const PATH_STOP = new Uint8Array(128);
for (const c of '?%\\#/.') PATH_STOP[c.charCodeAt(0)] = 1;

/** True when the origin-form `url` needs no normalizing: the hot path's only cost. */
function isPlainPath(url: string): boolean {
  if (url.charCodeAt(0) !== SLASH) return false;
  let prev = SLASH;
  for (let i = 1; i < url.length; i++) {
    const c = url.charCodeAt(i);
    // One table load for the ordinary characters; non-ASCII cannot be special.
    if (c < 128 && PATH_STOP[c] === 1) {
      if (c === QUESTION) return true;
      if (c === PERCENT || c === BACKSLASH || c === HASH) return false;
      // c is "/" or ".": "//" and "/." (a dot-segment, or a dot-file, normalized alike) need the slow path.
      if (prev === SLASH) return false;
    }
    prev = c;
  }
  return true;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === DOT || c === 0x5f || c === 0x7e;
}

const HEX = '0123456789ABCDEF';

function decodeUnreserved(path: string): string | Refusal {
  let out = '';
  let from = 0;
  for (let i = path.indexOf('%'); i !== -1; i = path.indexOf('%', i)) {
    const hi = hexValue(path.charCodeAt(i + 1));
    const lo = hexValue(path.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return badTarget(`"${path.slice(i, i + 3)}" is not a percent-escape`);
    const byte = hi * 16 + lo;
    if (byte === SLASH || byte === BACKSLASH) return badTarget('an encoded slash or backslash (%2F, %5C) in the path is refused: the upstream may read it as a separator');
    if (byte === 0) return badTarget('an encoded NUL (%00) in the path is refused');
    out += path.slice(from, i) + (isUnreserved(byte) ? String.fromCharCode(byte) : '%' + HEX[hi] + HEX[lo]);
    from = i += 3;
  }
  return out + path.slice(from);
}

/**
 * The normalized form of an origin-form path (no query), or why it is refused. Idempotent:
 * normalizing a normalized path returns it unchanged.
 */
export function normalizePath(path: string): string | Refusal {
  if (path.charCodeAt(0) !== SLASH) return badTarget('the path must start with "/"');
  let decoded = path;
  if (path.includes('%')) {
    const d = decodeUnreserved(path);
    if (typeof d !== 'string') return d;
    decoded = d;
  }
  if (decoded.includes('\\')) return badTarget('a backslash in the path is refused: the upstream may read it as a separator');
  if (decoded.includes('#')) return badTarget('a request-target has no fragment (RFC 9112 §3.2)');
  const segments = decoded.split('/');
  const out: string[] = [];
  let trailingSlash = false;
  // segments[0] is the empty string before the leading "/".
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    const last = i === segments.length - 1;
    const semi = s.indexOf(';');
    if (semi !== -1) {
      const head = s.slice(0, semi);
      if (head === '.' || head === '..') return badTarget(`the dot-segment "${s}" with a ;parameter is refused: some upstreams read it as "${head}"`);
    }
    if (s === '' || s === '.') {
      trailingSlash = last;
    } else if (s === '..') {
      out.pop();
      trailingSlash = last;
    } else {
      out.push(s);
      trailingSlash = false;
    }
  }
  if (out.length === 0) return '/';
  return '/' + out.join('/') + (trailingSlash ? '/' : '');
}

/** reg-name restricted to what DNS names and IPv4 addresses use: ALPHA DIGIT - . _ ~ (no sub-delims, no escapes). */
const HOST_CHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) HOST_CHAR[c] = /[A-Za-z0-9._~-]/.test(String.fromCharCode(c)) ? 1 : 0;

/** `host[:port]`: a DNS-style name, an IPv4 address or a bracketed IPv6 literal; port 0-65535. */
export function isValidHost(host: string): boolean {
  const length = host.length;
  if (length === 0) return false;
  if (host.charCodeAt(0) === 0x5b) return isBracketedHost(host);
  let i = 0;
  for (; i < length; i++) {
    const c = host.charCodeAt(i);
    if (c >= 128 || HOST_CHAR[c] !== 1) break;
  }
  if (i === length) return true;
  if (i === 0 || host.charCodeAt(i) !== 0x3a) return false;
  return isPort(host, i + 1);
}

function isPort(host: string, from: number): boolean {
  const digits = host.length - from;
  if (digits === 0 || digits > 5) return false;
  let port = 0;
  for (let i = from; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
    port = port * 10 + (c - 0x30);
  }
  return port <= 65535;
}

function isBracketedHost(host: string): boolean {
  const close = host.indexOf(']');
  if (close === -1 || !isIPv6(host.slice(1, close))) return false;
  if (close === host.length - 1) return true;
  return host.charCodeAt(close + 1) === 0x3a && isPort(host, close + 2);
}

const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)(.*)$/is;

/**
 * Checks one request before routing and rewrites it in place: `req.url` becomes the normalized
 * origin-form target, and an absolute-form target's authority becomes `req.headers.host`.
 * Returns why the request is refused, or undefined.
 */
export function admitRequestTarget(req: IncomingMessage): Refusal | undefined {
  // HTTP/2 (node/listeners.ts) arrives as compat requests carrying their `stream`; only a text parser's "HTTP/2.0" is refused.
  if (req.httpVersionMajor !== 1 && !(req.httpVersionMajor === 2 && 'stream' in req))
    return { code: 'bad-http-version', detail: `HTTP/${req.httpVersion} is not served; use HTTP/1.0 or HTTP/1.1` };
  const url = req.url ?? '';
  if (!isPlainPath(url)) {
    let target = url;
    if (url.charCodeAt(0) !== SLASH) {
      const absolute = ABSOLUTE_FORM.exec(url);
      if (!absolute) return badTarget('the request-target must be a path ("/…") or an absolute http(s) URL');
      const authority = absolute[1]!;
      if (!isValidHost(authority)) return { code: 'bad-host', detail: 'the authority of the absolute-form request-target is not host[:port]' };
      // RFC 9112 §3.2.2: the target's authority replaces Host.
      req.headers.host = authority;
      target = absolute[2]!;
      if (target === '' || target.charCodeAt(0) === QUESTION) target = '/' + target;
    }
    const q = target.indexOf('?');
    const path = normalizePath(q === -1 ? target : target.slice(0, q));
    if (typeof path !== 'string') return path;
    req.url = q === -1 ? path : path + target.slice(q);
  }
  return checkHost(req);
}

function checkHost(req: IncomingMessage): Refusal | undefined {
  // Node keeps only the first of two Host headers in req.headers: count them in the raw list.
  const raw = req.rawHeaders;
  let seen = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && (name === 'Host' || name === 'host' || name.toLowerCase() === 'host')) {
      if (seen) return { code: 'bad-host', detail: 'a request has one Host header (RFC 9112 §3.2)' };
      seen = true;
    }
  }
  const host = req.headers.host;
  // An empty Host is allowed when the target has no authority (RFC 9112 §3.2).
  if (host === undefined || host === '' || host === lastValidHost) return undefined;
  if (!isValidHost(host)) return { code: 'bad-host', detail: 'the Host header is not host[:port]' };
  lastValidHost = host;
  return undefined;
}

/** Traffic arrives under a handful of Host names: comparing with the last good one is one memcmp, cheaper than the scan. */
let lastValidHost = '';

/** Answers a refused request with a 400 problem and closes the connection: its framing is suspect. Returns the answer's request id. */
export function refuseRequest(res: ServerResponse, refusal: Refusal): string {
  const requestId = newRequestId();
  writeProblem(res, problem(400, refusal.code, refusal.detail, { instance: requestId }), { 'x-request-id': requestId, connection: 'close' });
  return requestId;
}
