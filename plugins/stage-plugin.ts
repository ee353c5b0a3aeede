import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { StageServices } from '../gateway/src/generation/route-stage.js';
import { ProblemError } from '../gateway/src/errors.js';

/**
 * Mark a plugin as not encapsulated (what fastify-plugin does): its hooks land on the route's
 * own scope, which compile.ts already made a separate context per route, so they still never
 * leak into another route.
 */
export function routePlugin<Options>(name: string, plugin: (scope: FastifyInstance, options: Options) => Promise<void>): FastifyPluginAsync<Options & Record<never, never>> {
  const wrapped = plugin as unknown as FastifyPluginAsync<Options & Record<never, never>> & Record<symbol, unknown>;
  wrapped[Symbol.for('skip-override')] = true;
  wrapped[Symbol.for('fastify.display-name')] = `switchboard-${name}`;
  return wrapped;
}

/** Something a stage family keeps across generations (counters, caches, clients), made once per node. */
export function sharedService<T>(services: StageServices, name: string, create: () => T): T {
  let value = services.shared.get(name) as T | undefined;
  if (value === undefined) {
    value = create();
    services.shared.set(name, value);
  }
  return value;
}

/** Same answer for every credential failure: which part was wrong is for the logs, not the caller. */
export function unauthorized(): ProblemError {
  return new ProblemError(401, 'unauthorized', 'missing or invalid credentials', {}, { 'www-authenticate': 'Bearer realm="switchboard"' });
}
