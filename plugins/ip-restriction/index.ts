import type { IncomingMessage } from 'node:http';
import type { BlockList } from 'node:net';
import type { Route } from '../../spec/route.js';
import { cidrList, listed } from '../../gateway/src/balancer/cidr.js';
import { ProblemError } from '../../gateway/src/errors.js';
import type { RouteStage, StageDone, StageReply, StageRequest } from '../../gateway/src/generation/route-stage.js';
import { routePlugin } from '../stage-plugin.js';

/**
 * `10.0.0.0/8`, `2001:db8::/32`, or a bare address (one host), read by the gateway's one CIDR
 * grammar (spec/cidr.ts, also checked at save) into a net.BlockList. Throws naming the entry.
 */
export function addressList(entries: readonly string[], field: string): BlockList {
  return cidrList(entries, field);
}

export interface IpRules {
  allow: BlockList | undefined;
  deny: BlockList | undefined;
}

/** Deny wins over allow; a non-empty allow list admits only its addresses (Kong, APISIX, nginx). */
export function admitted(rules: IpRules, ip: string): boolean {
  if (rules.deny && listed(rules.deny, ip)) return false;
  if (rules.allow && !listed(rules.allow, ip)) return false;
  return true;
}

const ipRestrictionPlugin = routePlugin<{ route: Route; clientIp: (req: IncomingMessage) => string }>('ip-restriction', async (scope, { route, clientIp }) => {
  const spec = route.ipRestriction!;
  const rules: IpRules = {
    allow: spec.allow?.length ? addressList(spec.allow, `route "${route.name}" ipRestriction.allow`) : undefined,
    deny: spec.deny?.length ? addressList(spec.deny, `route "${route.name}" ipRestriction.deny`) : undefined,
  };
  scope.addHook('onRequest', (request: StageRequest, _reply: StageReply, done: StageDone) => {
    if (admitted(rules, clientIp(request.raw))) return done();
    done(new ProblemError(403, 'ip-denied', 'requests from this address are not allowed on this route'));
  });
});

/** First stage: the cheapest refusal, before any credential work or CORS answer. */
export const ipRestrictionStage: RouteStage = {
  name: 'ip-restriction',
  applies: (route) => Boolean(route.ipRestriction && (route.ipRestriction.allow?.length || route.ipRestriction.deny?.length)),
  async register(scope, route, ctx) {
    await ipRestrictionPlugin(scope, { route, clientIp: ctx.services.clientIp });
  },
};
