import type { Route } from '../../spec/route.js';
import { ProblemError } from '../../gateway/src/errors.js';
import type { RouteStage, StageDone, StageReply, StageRequest } from '../../gateway/src/generation/route-stage.js';
import { routePlugin, unauthorized } from '../stage-plugin.js';

const authorizationPlugin = routePlugin<{ route: Route }>('authorization', async (scope, { route }) => {
  const name = route.name;
  scope.addHook('onRequest', (request: StageRequest, _reply: StageReply, done: StageDone) => {
    const caller = request.caller;
    if (caller === undefined) return done(unauthorized());
    const allowed = caller.consumer.routes;
    if (allowed === undefined || allowed.includes(name)) return done();
    done(new ProblemError(403, 'forbidden', `consumer "${caller.name}" may not use route "${name}"`));
  });
});

/** A consumer's `routes` list, when present, is the whole of what it may call; absent = all. */
export const authorizationStage: RouteStage = {
  name: 'authorization',
  applies: (route) => route.auth !== undefined && route.auth !== 'none',
  async register(scope, route) {
    await authorizationPlugin(scope, { route });
  },
};
