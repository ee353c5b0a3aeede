import { BlockList } from 'node:net';
import { formatCidr, parseCidr } from '../../../spec/cidr.js';

/**
 * CIDR lists as Node's `net.BlockList`, fed only by spec/cidr.ts's strict parser: the one CIDR
 * engine for trusted proxies (gateway-wide and per upstream) and route IP restrictions.
 * BlockList matches IPv4-mapped IPv6 peers (`::ffff:10.0.0.1`) against IPv4 subnets and back.
 */
export function cidrList(entries: readonly string[], field: string): BlockList {
  const list = new BlockList();
  entries.forEach((entry, i) => {
    const cidr = parseCidr(entry);
    if (typeof cidr === 'string') throw new Error(`${field}[${i}] ${cidr}`);
    const [address] = formatCidr(cidr).split('/');
    list.addSubnet(address!, cidr.prefix, cidr.family === 4 ? 'ipv4' : 'ipv6');
  });
  return list;
}

/** Whether `address` (a socket peer or a forwarded hop; a zone id is ignored) is in `list`. */
export function listed(list: BlockList, address: string): boolean {
  const zone = address.indexOf('%');
  const ip = zone === -1 ? address : address.slice(0, zone);
  return list.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4');
}
