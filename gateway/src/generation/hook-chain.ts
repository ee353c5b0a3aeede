/**
 * A route's hooks for one phase, run in order as Fastify's hook runner (fastify/lib/hooks.js,
 * hookRunnerGenerator with hookIterator) runs a route's own: a callback hook goes on when it calls
 * `done`, an async one when it settles; an error ends the phase and goes to `done(err)`; a hook
 * that sent the reply ends the request (`done` is not called); hooks are called with the scope as
 * `this`, the instance Fastify binds them to. Both places that choose hooks per request run them
 * here: the shared Fastify route (shared-route.ts) and the stage lane (stage-lane.ts).
 */
export function runHooks<Request, Reply extends { readonly sent: boolean }>(
  hooks: readonly unknown[],
  scope: unknown,
  request: Request,
  reply: Reply,
  done: (err?: Error) => void,
): void {
  if (hooks.length === 0) return done();
  let i = 0;
  const fail = (err: unknown) => done((err ?? new Error('a stage rejected without a reason')) as Error);
  const next = (err?: unknown): void => {
    if (err) return fail(err);
    if (i === hooks.length) return done();
    if (reply.sent) return;
    let result: unknown;
    try {
      result = (hooks[i++] as (this: unknown, q: Request, r: Reply, d: (err?: unknown) => void) => unknown).call(scope, request, reply, next);
    } catch (error) {
      return fail(error);
    }
    if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') (result as Promise<unknown>).then(() => next(), fail);
  };
  next();
}
