import type { RouteStage } from '../gateway/src/generation/route-stage.js';

/** The request stages, in the order a request meets them (see DESIGN.md's request path). */
export function defaultStages(): RouteStage[] {
  return [];
}
