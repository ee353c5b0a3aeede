import type { RouteBuilder, StageServices } from '../gateway/src/generation/route-stage.js';
import { ProblemError } from '../gateway/src/errors.js';

/**
 * A stage's body: what it adds to one route through the route's builder (route-level hooks).
 * Named for stack traces and profiles; it runs once per route per generation.
 */
export function routePlugin<Options>(name: string, plugin: (route: RouteBuilder, options: Options) => Promise<void>): (route: RouteBuilder, options: Options) => Promise<void> {
  Object.defineProperty(plugin, 'name', { value: `switchboard-${name}` });
  return plugin;
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
