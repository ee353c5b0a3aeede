import { TargetRegistry } from '../balancer/target-registry.js';
import { UpstreamRegistry } from '../balancer/upstream-registry.js';
import type { ConfigState } from '../store/port.js';
import { compileGeneration, type CompileDeps } from './compile.js';
import { compileTimeLimitMs, containCompile } from './compile-guard.js';

/** Compile a state without serving it; throws why it does not compile. */
export type DryCompile = (state: ConfigState) => Promise<void>;

/**
 * A dry compile: the revision is compiled exactly as a node would (same stages, same Fastify
 * options, same front router) over throw-away pools that open no connection, then closed. The
 * admin API and `switchboard import` run it before committing, so a revision that would not
 * compile is refused with its cause instead of being stored for every node to fail on.
 */
export function dryCompiler(deps: Omit<CompileDeps, 'pools' | 'unavailable'>): DryCompile {
  return async (state) => {
    // Pools are built on their own registry: nothing a running node holds is touched, and a
    // target's connection pool is created but never dialled.
    const targets = new TargetRegistry();
    const plan = new UpstreamRegistry(targets).plan(state.upstreams, state.certificates ?? []);
    try {
      const generation = await containCompile(
        () => compileGeneration(state, { ...deps, pools: plan.pools }),
        compileTimeLimitMs(state.routes.length),
        (late) => void late.app.close().catch(() => {}),
      );
      await generation.app.close();
    } finally {
      plan.rollback();
      await targets.close();
    }
  };
}
