/**
 * The one CIDR grammar of the code base: `TRUSTED_PROXIES`, an upstream's `trustedProxies` and a
 * route's `ipRestriction.allow/deny` are all read by `parseCidr`, validated at save (spec/
 * validate.ts) and at start-up (env.ts), then matched by Node's `net.BlockList`
 * (gateway/src/balancer/cidr.ts). Pure code without Node imports: spec/ may be bundled for a
 * browser.
 *
 * Strict on purpose, because a lenient reading of a trust list widens it: `10.0.0.0/` was read
 * as `/0` and trusted every client. Refused: an empty or missing prefix after `/`, a prefix
 * with a leading zero (`/08`) or past the family's width, IPv4 octets with leading zeros
 * (`01.2.3.4` is octal to inet_aton), fewer than four octets (`1.2.3`), IPv6 zone ids,
 * brackets, whitespace anywhere, and host bits set past the prefix (`10.0.0.1/8` — did the
 * operator mean the host or the network? Python's `ip_network(strict=True)` refuses it too).
 * A bare address is one host (/32, /128).
 */
export interface Cidr {
  readonly family: 4 | 6;
  /** Network address, 4 or 16 bytes, host bits zero. */
  readonly bytes: readonly number[];
  readonly prefix: number;
}

const DECIMAL_OCTET = /^(?:0|[1-9]\d{0,2})$/;
const PREFIX = /^(?:0|[1-9]\d{0,2})$/;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

function parseIPv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!DECIMAL_OCTET.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out.push(n);
  }
  return out;
}

function parseIPv6(text: string): number[] | undefined {
  if (text.length < 2 || !/^[0-9A-Fa-f:.]+$/.test(text)) return undefined;
  const double = text.indexOf('::');
  if (double !== -1 && text.indexOf('::', double + 1) !== -1) return undefined;
  const groupsOf = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (p.includes('.')) {
        // An embedded IPv4 address is only the last 32 bits (RFC 4291 §2.2).
        if (i !== pieces.length - 1) return undefined;
        const v4 = parseIPv4(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (HEX_GROUP.test(p)) out.push(parseInt(p, 16));
      else return undefined;
    }
    return out;
  };
  let groups: number[];
  if (double === -1) {
    const all = groupsOf(text);
    if (!all || all.length !== 8) return undefined;
    groups = all;
  } else {
    const head = groupsOf(text.slice(0, double));
    const tail = groupsOf(text.slice(double + 2));
    // An embedded IPv4 address may only end the address, never the part before "::".
    if (!head || !tail || text.slice(0, double).includes('.')) return undefined;
    if (head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  const bytes: number[] = [];
  for (const g of groups) bytes.push(g >> 8, g & 0xff);
  return bytes;
}

/** A parsed address (4 or 16 bytes) without a prefix, or undefined; strict as parseCidr. */
export function parseIp(text: string): { family: 4 | 6; bytes: number[] } | undefined {
  const v4 = parseIPv4(text);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = text.includes(':') ? parseIPv6(text) : undefined;
  return v6 ? { family: 6, bytes: v6 } : undefined;
}

/** The CIDR `text` names, or a sentence saying what is wrong with it (for a 400 or a start-up error). */
export function parseCidr(text: string): Cidr | string {
  if (typeof text !== 'string' || text === '') return 'is empty';
  if (/\s/.test(text)) return `"${text}" contains whitespace`;
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const ip = parseIp(address);
  if (!ip) return `"${text}" is not an IP address or CIDR block (IPv4 as four decimal octets without leading zeros, IPv6 without a zone)`;
  const max = ip.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const bits = text.slice(slash + 1);
    if (!PREFIX.test(bits) || Number(bits) > max) return `"${text}" has an invalid prefix length (a number from 0 to ${max} after "/", without leading zeros)`;
    prefix = Number(bits);
  }
  const network = ip.bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
  if (network.some((b, i) => b !== ip.bytes[i])) {
    const meant = formatCidr({ family: ip.family, bytes: network, prefix });
    return `"${text}" has bits set past its /${prefix} prefix (did you mean ${meant}, or the single address ${address}?)`;
  }
  return { family: ip.family, bytes: network, prefix };
}

/** Why `text` is not a CIDR, or undefined when it is one. */
export function cidrError(text: string): string | undefined {
  const parsed = parseCidr(text);
  return typeof parsed === 'string' ? parsed : undefined;
}

/** Canonical text: dotted IPv4, RFC 5952 IPv6 (lower case, longest zero run as "::"), always with the prefix. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidr.family, cidr.bytes)}/${cidr.prefix}`;
}

export function formatIp(family: 4 | 6, bytes: readonly number[]): string {
  if (family === 4) return bytes.join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // RFC 5952 §4.2: the longest run of two or more zero groups, the first of equal ones.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
