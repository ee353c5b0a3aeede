import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { FastifyStageHook, StageHook, StageRequest } from './route-stage.js';
import { runHooks } from './hook-chain.js';

/**
 * Staged routes without a schema share one Fastify route per scope. The front router matches the
 * request to its configured route (front-router.ts) and puts that route here, on the raw
 * request; the scope's one Fastify route then runs the matched route's hooks and handler. A
 * Fastify route per configured route cost ≈ 5 KB of heap each (router nodes in two method trees,
 * a Context with hook arrays and bound hooks, avvio's task): 10 000 keyed routes held ≈ 52 MB
 * more than 10 000 plain ones. Routes with a schema keep a Fastify route of their own, so that
 * Fastify compiles and runs their validation exactly as it documents it.
 */
export interface MatchedRoute {
  /** What a Fastify route of its own would carry as `config` (name, errorFormat, bodyLimit). */
  readonly config: FastifyContextConfig;
  /** The configured path, for a stage that answers per path (CORS's preflights); undefined when nothing asks. */
  readonly url: string | undefined;
  readonly onRequest: readonly (StageHook | FastifyStageHook)[];
  readonly preHandler: readonly (StageHook | FastifyStageHook)[];
  readonly handler: (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) => void;
}

/** Set on the raw request by the front router's entry (or the selector) for a shared route. */
export const MATCHED: unique symbol = Symbol('switchboard.matchedRoute');

declare module 'node:http' {
  interface IncomingMessage {
    [MATCHED]?: MatchedRoute;
  }
}

/** The matched route's config, whether it shares its scope's Fastify route or has one of its own. */
export function configOf(request: FastifyRequest): FastifyContextConfig {
  return request.raw[MATCHED]?.config ?? request.routeOptions.config;
}

/** The configured path the request matched (a route's own Fastify path, or what its shared entry says). */
export function matchedUrl(request: StageRequest & { readonly routeOptions?: { readonly url?: string | undefined } }): string | undefined {
  const matched = request.raw[MATCHED];
  return matched !== undefined ? matched.url : request.routeOptions?.url;
}

/**
 * The shared route's hook for one phase: runs the matched route's hooks for it (hook-chain.ts).
 * Kept here, not in Fastify, because the hooks are chosen per request.
 */
export function runMatchedHooks(phase: 'onRequest' | 'preHandler', scope: FastifyInstance) {
  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => runHooks(request.raw[MATCHED]![phase], scope, request, reply, done);
}
