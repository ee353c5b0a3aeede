import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { Route } from '../../spec/route.js';
import { ProblemError } from '../../gateway/src/errors.js';
import type { RouteStage } from '../../gateway/src/generation/route-stage.js';
import { routePlugin } from '../stage-plugin.js';

/** `10.0.0.0/8`, `2001:db8::/32`, or a bare address (one host). Throws on anything else. */
export function addressList(entries: readonly string[], field: string): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', bits] = entry.trim().split('/');
    const family = isIP(address);
    if (family === 0) throw new Error(`${field}: "${entry}" is not an IP address or CIDR block`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    const max = family === 4 ? 32 : 128;
    const prefix = bits === undefined ? max : Number(bits);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (bits !== undefined && !/^\d+$/.test(bits)))
      throw new Error(`${field}: "${entry}" has an invalid prefix length`);
    list.addSubnet(address, prefix, type);
  }
  return list;
}

export interface IpRules {
  allow: BlockList | undefined;
  deny: BlockList | undefined;
}

/** Deny wins over allow; a non-empty allow list admits only its addresses (Kong, APISIX, nginx). */
export function admitted(rules: IpRules, ip: string): boolean {
  const type = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  if (rules.deny?.check(ip, type)) return false;
  if (rules.allow && !rules.allow.check(ip, type)) return false;
  return true;
}

const ipRestrictionPlugin = routePlugin<{ route: Route; clientIp: (req: IncomingMessage) => string }>('ip-restriction', async (scope, { route, clientIp }) => {
  const spec = route.ipRestriction!;
  const rules: IpRules = {
    allow: spec.allow?.length ? addressList(spec.allow, `route "${route.name}" ipRestriction.allow`) : undefined,
    deny: spec.deny?.length ? addressList(spec.deny, `route "${route.name}" ipRestriction.deny`) : undefined,
  };
  scope.addHook('onRequest', (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    if (admitted(rules, clientIp(request.raw))) return done();
    done(new ProblemError(403, 'ip-denied', 'requests from this address are not allowed on this route'));
  });
});

/** First stage: the cheapest refusal, before any credential work or CORS answer. */
export const ipRestrictionStage: RouteStage = {
  name: 'ip-restriction',
  applies: (route) => Boolean(route.ipRestriction && (route.ipRestriction.allow?.length || route.ipRestriction.deny?.length)),
  async register(scope, route, ctx) {
    await scope.register(ipRestrictionPlugin, { route, clientIp: ctx.services.clientIp });
  },
};
