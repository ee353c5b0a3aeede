import { isIPv4, isIPv6 } from 'node:net';

/**
 * The PROXY protocol (HAProxy's spec, versions 1 and 2), as an L4 balancer in front (AWS NLB,
 * HAProxy `send-proxy`) prepends it: the client's address and port before the first byte of the
 * client's own stream. Parsed strictly — a header that bends the grammar is refused, never
 * guessed at, since whatever it names becomes the address IP lists and per-IP limits believe.
 *
 * Hand-written: the format is two small fixed grammars, the npm parsers found are unmaintained
 * or stream-wrapping (an extra copy of every byte for the life of the connection).
 */
export type ProxyHeader =
  | { kind: 'more' }
  | { kind: 'bad'; reason: string }
  /** `source` undefined: LOCAL (v2) or UNKNOWN (v1): the balancer's own connection, e.g. a health check. */
  | { kind: 'ok'; length: number; source?: { address: string; port: number; family: 'IPv4' | 'IPv6' } };

/** §2.1: a v1 line is at most 107 bytes, CRLF included. */
export const V1_MAX = 107;
/** §2.2: the v2 signature. */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** TLVs (AWS puts a VPC endpoint id there) are allowed; a header larger than this is not a balancer's. */
const V2_MAX_LENGTH = 2048;

/** Whether `head` starts (or could still start) like a PROXY header: decides once 12 bytes are in, or less on a mismatch. */
export function looksLikeProxyHeader(head: Buffer): boolean | undefined {
  const v1 = prefixMatch(head, V1_PREFIX);
  const v2 = prefixMatch(head, V2_SIGNATURE);
  if (v1 === true || v2 === true) return true;
  if (v1 === false && v2 === false) return false;
  return undefined;
}

/** true: head starts with `prefix`; false: it cannot; undefined: too short to tell. */
function prefixMatch(head: Buffer, prefix: Buffer): boolean | undefined {
  const n = Math.min(head.length, prefix.length);
  for (let i = 0; i < n; i++) if (head[i] !== prefix[i]) return false;
  return head.length >= prefix.length ? true : undefined;
}

export function parseProxyHeader(head: Buffer): ProxyHeader {
  const v2 = prefixMatch(head, V2_SIGNATURE);
  if (v2 === true) return parseV2(head);
  const v1 = prefixMatch(head, V1_PREFIX);
  if (v1 === true) return parseV1(head);
  if (v1 === undefined || v2 === undefined) return { kind: 'more' };
  return { kind: 'bad', reason: 'the connection did not start with a PROXY protocol header' };
}

const PORT = /^(0|[1-9]\d{0,4})$/;

function parseV1(head: Buffer): ProxyHeader {
  const end = head.indexOf('\r\n', 0, 'latin1');
  if (end === -1) return head.length >= V1_MAX ? { kind: 'bad', reason: 'PROXY v1 line longer than 107 bytes' } : { kind: 'more' };
  if (end + 2 > V1_MAX) return { kind: 'bad', reason: 'PROXY v1 line longer than 107 bytes' };
  const line = head.toString('latin1', 0, end);
  const parts = line.split(' ');
  if (parts[1] === 'UNKNOWN') return { kind: 'ok', length: end + 2 };
  if (parts.length !== 6) return { kind: 'bad', reason: 'PROXY v1 line is not "PROXY TCP4|TCP6 src dst sport dport"' };
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const valid = proto === 'TCP4' ? isIPv4 : proto === 'TCP6' ? isIPv6 : undefined;
  if (valid === undefined) return { kind: 'bad', reason: `PROXY v1 protocol "${proto.slice(0, 8)}" is not TCP4, TCP6 or UNKNOWN` };
  if (!valid(src) || !valid(dst)) return { kind: 'bad', reason: `PROXY v1 addresses are not ${proto} addresses` };
  if (!PORT.test(sport) || !PORT.test(dport) || Number(sport) > 65535 || Number(dport) > 65535) return { kind: 'bad', reason: 'PROXY v1 ports are not 0-65535' };
  return { kind: 'ok', length: end + 2, source: { address: src, port: Number(sport), family: proto === 'TCP4' ? 'IPv4' : 'IPv6' } };
}

function parseV2(head: Buffer): ProxyHeader {
  if (head.length < 16) return { kind: 'more' };
  const versionCommand = head[12]!;
  if (versionCommand >> 4 !== 2) return { kind: 'bad', reason: 'PROXY v2 header with a version other than 2' };
  const command = versionCommand & 0x0f;
  if (command > 1) return { kind: 'bad', reason: 'PROXY v2 command is neither LOCAL nor PROXY' };
  const family = head[13]!;
  const length = head.readUInt16BE(14);
  if (length > V2_MAX_LENGTH) return { kind: 'bad', reason: `PROXY v2 header longer than ${V2_MAX_LENGTH} bytes` };
  const total = 16 + length;
  if (head.length < total) return { kind: 'more' };
  // LOCAL: the balancer speaks for itself; the addresses (if any) are to be ignored (§2.2).
  if (command === 0) return { kind: 'ok', length: total };
  // 0x11 TCP over IPv4, 0x21 TCP over IPv6; UDP and UNIX sockets are not what a TCP listener gets.
  if (family === 0x11) {
    if (length < 12) return { kind: 'bad', reason: 'PROXY v2 TCP4 block shorter than 12 bytes' };
    const address = `${head[16]}.${head[17]}.${head[18]}.${head[19]}`;
    return { kind: 'ok', length: total, source: { address, port: head.readUInt16BE(24), family: 'IPv4' } };
  }
  if (family === 0x21) {
    if (length < 36) return { kind: 'bad', reason: 'PROXY v2 TCP6 block shorter than 36 bytes' };
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(head.readUInt16BE(16 + i * 2).toString(16));
    return { kind: 'ok', length: total, source: { address: compressIPv6(groups), port: head.readUInt16BE(48), family: 'IPv6' } };
  }
  if (family === 0x00) return { kind: 'ok', length: total };
  return { kind: 'bad', reason: `PROXY v2 address family 0x${family.toString(16)} is not TCP over IPv4 or IPv6` };
}

/** RFC 5952 spelling (the longest run of zero groups as `::`), as Node spells socket addresses. */
function compressIPv6(groups: string[]): string {
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j;
  }
  const text = best === -1 ? groups.join(':') : `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLength).join(':')}`;
  // An IPv4-mapped address keeps Node's dotted spelling, so normalizeAddress strips it as for a socket.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(text);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return `::ffff:${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return text;
}
