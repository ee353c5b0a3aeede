import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { Role } from '../../../spec/user.js';
import type { Actor, ConfigService } from '../config/config-service.js';
import type { GatewayNode } from '../node/gateway-node.js';

/** The signed-in admin user a request acts for (set by authentication, read by handlers). */
export interface AdminPrincipal {
  id: string;
  email: string;
  role: Role;
}

declare module 'fastify' {
  interface FastifyRequest {
    adminUser: AdminPrincipal | undefined;
  }
}

/**
 * Route `config` of admin routes. (Not merged into Fastify's FastifyContextConfig: that would
 * make every other Fastify app in the process type-check its route config against ours.)
 */
export interface AdminRouteConfig {
  /** Least role a route needs; default: viewer for GET/HEAD, editor otherwise. */
  minRole?: Role;
}

/** What admin route modules are given; one object so new modules need no new wiring. */
export interface AdminDeps {
  service: ConfigService;
  node: GatewayNode | undefined;
  logger: FastifyBaseLogger;
  /** The request's user as an audit actor. */
  actorOf(request: FastifyRequest): Actor;
}
