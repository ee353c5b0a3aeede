import { isIPv4, isIPv6 } from 'node:net';

/** The 12-byte signature that opens every PROXY protocol v2 header (haproxy proxy-protocol.txt §2.2). */
const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Version 2, command PROXY (the connection was relayed on behalf of another host). */
const VERSION_PROXY = 0x21;
/** Version 2, command LOCAL (health checks and the like: the target uses the real addresses). */
const VERSION_LOCAL = 0x20;
const TCP_OVER_IPV4 = 0x11;
const TCP_OVER_IPV6 = 0x21;

export interface Endpoint {
  address: string;
  port: number;
}

/** Tried in this order: IPv4 only when both endpoints are IPv4, IPv6 for any other pair of IPs. */
const FAMILIES = [
  { family: TCP_OVER_IPV4, bytesOf: ipv4Of },
  { family: TCP_OVER_IPV6, bytesOf: ipv6Of },
];

/**
 * The binary PROXY protocol v2 header a stream sends its target before the client's first byte,
 * so the target sees the client's address instead of the gateway's (§2.2). Both endpoints are
 * written in one family: IPv4 when both are IPv4 (or IPv4-mapped IPv6, as a dual-stack socket
 * reports them), otherwise IPv6 with any IPv4 address mapped into ::ffff:0:0/96. An address that
 * is neither (a Unix socket) gives a LOCAL header, which tells the target to use the real one.
 *
 * The parser for headers *received* on the public listeners is a separate concern (node/).
 */
export function encodeProxyV2(source: Endpoint, destination: Endpoint): Buffer {
  for (const { family, bytesOf } of FAMILIES) {
    const src = bytesOf(source.address);
    const dst = bytesOf(destination.address);
    if (src !== undefined && dst !== undefined) return proxyHeader(family, src, dst, source.port, destination.port);
  }
  const out = Buffer.alloc(16);
  header(out, VERSION_LOCAL, 0x00, 0);
  return out;
}

/** The address block (§2.2): source and destination address, then source and destination port. */
function proxyHeader(family: number, src: Uint8Array, dst: Uint8Array, srcPort: number, dstPort: number): Buffer {
  const length = 2 * src.length + 4;
  const out = Buffer.alloc(16 + length);
  header(out, VERSION_PROXY, family, length);
  out.set(src, 16);
  out.set(dst, 16 + src.length);
  out.writeUInt16BE(srcPort, 16 + 2 * src.length);
  out.writeUInt16BE(dstPort, 18 + 2 * src.length);
  return out;
}

function header(out: Buffer, versionCommand: number, family: number, length: number): void {
  SIGNATURE.copy(out, 0);
  out[12] = versionCommand;
  out[13] = family;
  out.writeUInt16BE(length, 14);
}

/** Four bytes of an IPv4 address, also when written as IPv4-mapped IPv6; undefined otherwise. */
function ipv4Of(address: string): Uint8Array | undefined {
  const plain = address.toLowerCase().startsWith('::ffff:') ? address.slice(7) : address;
  if (!isIPv4(plain)) return undefined;
  return Uint8Array.from(plain.split('.').map(Number));
}

/** Sixteen bytes of an IPv6 address (an IPv4 one mapped into ::ffff:0:0/96); undefined otherwise. */
function ipv6Of(address: string): Uint8Array | undefined {
  const v4 = ipv4Of(address);
  if (v4 !== undefined) return Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4]);
  const bare = address.split('%')[0]!;
  if (!isIPv6(bare)) return undefined;
  let text = bare;
  // A trailing dotted quad (::ffff:1.2.3.4 was handled above; 64:ff9b::1.2.3.4 is not).
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -quad[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}
