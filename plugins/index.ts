import type { RouteStage } from '../gateway/src/generation/route-stage.js';
import { authStage } from './auth/index.js';
import { authorizationStage } from './authorization/index.js';
import { corsStage } from './cors/index.js';
import { hstsStage } from './hsts/index.js';
import { ipRestrictionStage } from './ip-restriction/index.js';
import { quotaStage } from './quota/index.js';
import { rateLimitStage } from './rate-limit/index.js';
import { tokenMeterStage } from './token-meter/index.js';
import { validationStage } from './validation/index.js';

/**
 * The request stages, in the order a request meets them (all onRequest hooks, so all run before
 * the body is read; schema validation follows in Fastify's own validation phase):
 *
 *   hsts → ip-restriction → cors → auth → authorization → rate-limit → quota → token-meter → (validation) → proxy
 *
 * IP lists first: the cheapest refusal, and a blocked address learns nothing, not even CORS
 * policy. CORS before auth: preflights carry no credentials, and 401/429 answers need CORS headers
 * for a browser to show them (APISIX runs cors and ip-restriction before its auth plugins too).
 * Auth before limits: a consumer's limit and quota need the consumer; unauthenticated traffic
 * cannot burn a partner's quota. HSTS first of all: it only adds a header, and a refusal over TLS
 * must carry it as much as an answer does. The validation stage adds no hook: it sets how Fastify's own
 * validation phase compiles the route's schema (strict for bodies).
 */
export function defaultStages(): RouteStage[] {
  return [hstsStage, ipRestrictionStage, corsStage, authStage, authorizationStage, rateLimitStage, quotaStage, tokenMeterStage, validationStage];
}
