import type { Route } from '../../spec/route.js';
import type { RouteStage, StageDone, StageReply, StageRequest } from '../../gateway/src/generation/route-stage.js';
import { routePlugin } from '../stage-plugin.js';

type HstsSpec = NonNullable<Route['hsts']>;

/** hstspreload.org's submission rules: a year or more, subdomains included. */
const PRELOAD_MIN_AGE = 31_536_000;

/** The header value for a route's `hsts`, or why the setting cannot be honoured. */
export function hstsValue(spec: HstsSpec): string {
  const maxAge = spec.maxAgeSeconds ?? PRELOAD_MIN_AGE;
  if (spec.preload && (!spec.includeSubDomains || maxAge < PRELOAD_MIN_AGE))
    throw Object.assign(new Error('hsts.preload needs includeSubDomains and maxAgeSeconds of at least 31536000 (the preload list refuses less)'), { field: 'hsts/preload' });
  return `max-age=${maxAge}${spec.includeSubDomains ? '; includeSubDomains' : ''}${spec.preload ? '; preload' : ''}`;
}

const hstsPlugin = routePlugin('hsts', async (scope, options: { value: string }) => {
  scope.addHook('onRequest', (request: StageRequest, reply: StageReply, done: StageDone) => {
    if ((request.raw.socket as { encrypted?: boolean } | null)?.encrypted === true) reply.header('strict-transport-security', options.value);
    done();
  });
});

/**
 * Strict-Transport-Security (RFC 6797) on a route's answers — proxied ones and the gateway's own
 * refusals alike — but only on a TLS connection: §7.2 forbids it over plain HTTP, where an
 * attacker could inject or strip it anyway. First among the stages, so a 401 or 429 carries it too.
 */
export const hstsStage: RouteStage = {
  name: 'hsts',
  applies: (route) => route.hsts !== undefined,
  async register(scope, route) {
    await hstsPlugin(scope, { value: hstsValue(route.hsts!) });
  },
};
