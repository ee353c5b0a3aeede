/** One row of the chaos table. */
export interface CaseResult {
  name: string;
  /** Requests the case's clients sent (the steady loop plus any attack traffic it counts). */
  sent: number;
  /** Of those, every one that failed (an error, a cut body or an unexpected status); the goal says which may. */
  failed: number;
  /** From the fault's end (or start, for a one-shot fault) until the gateway served as before; null when not applicable. */
  recoveryMs: number | null;
  pass: boolean;
  /** The goal, and what was measured against it. */
  goal: string;
  detail: string;
}

export interface ChaosCase {
  name: string;
  /** The hard cap on the case, after which it is reported failing and its processes killed. */
  limitMs: number;
  /** `budgetMs`: the case's limit, or less when the whole run's watchdog is nearer. */
  run(budgetMs: number): Promise<CaseResult>;
}

/** The config every case starts from: a three-target pool, passive health on, one retry. */
export function poolConfig(targets: string[], extra: { weights?: number[]; routes?: unknown[]; upstreams?: unknown[]; consumers?: unknown[]; route?: Record<string, unknown>; passive?: Record<string, unknown>; active?: Record<string, unknown> } = {}) {
  return {
    upstreams: [
      {
        name: 'pool',
        algorithm: 'round-robin',
        targets: targets.map((url, i) => (extra.weights ? { url, weight: extra.weights[i] ?? 1 } : { url })),
        healthCheck: {
          passive: { consecutiveFailures: 3, ejectMs: 30_000, maxEjectionPercent: 50, ...extra.passive },
          ...(extra.active ? { active: extra.active } : {}),
        },
      },
      ...(extra.upstreams ?? []),
    ],
    routes: [
      { name: 'steady', methods: ['GET'], paths: ['/echo', '/echo/*'], upstream: 'pool', retries: 1, timeoutMs: 5000, ...extra.route },
      ...(extra.routes ?? []),
    ],
    consumers: extra.consumers ?? [],
  };
}

/** True when the route schema has `perTryTimeoutMs` (the proxy helper adds it under issue 9). */
export async function routeHasPerTryTimeout(): Promise<boolean> {
  const { Route } = await import('../../spec/route.js');
  return 'perTryTimeoutMs' in (Route as unknown as { properties: Record<string, unknown> }).properties;
}
