import type { GatewayConfig } from '../../spec/config.js';
import { startGpuWorker, type GpuWorker } from './simulator/gpu-worker.js';

export const DEMO_UPSTREAM = 'demo-gpus';
export const DEMO_WORKER_BASE_PORT = 8101;

/** Three simulated GPUs; the third is an older, three-times-slower card. */
const WORKERS = [
  { name: 'gpu-a100-1', speed: 1 },
  { name: 'gpu-a100-2', speed: 1 },
  { name: 'gpu-t4-legacy', speed: 3 },
];

export interface DemoPlan {
  /** Start the three simulated workers. */
  workers: boolean;
  /** Write the demo configuration (and a partner key) into the store. */
  seed: boolean;
}

/**
 * What `npm start` does about the demo. By default it seeds only an empty embedded store: a
 * MongoDB store may well be a production database, where three fake GPUs and a demo partner key
 * have no business, so there it takes DEMO=1. DEMO=0 turns the demo off everywhere. A store
 * that already holds configuration is never seeded; with DEMO=1 the workers of a demo seeded
 * earlier are started again.
 */
export function demoPlan(options: { demo: boolean | undefined; storeKind: 'file' | 'mongodb'; empty: boolean; hasDemoUpstream: boolean }): DemoPlan {
  const wanted = options.demo ?? (options.empty && options.storeKind === 'file');
  return { workers: wanted && (options.empty || options.hasDemoUpstream), seed: wanted && options.empty };
}

export function demoWorkerPorts(base = Number(process.env.DEMO_WORKER_BASE_PORT) || DEMO_WORKER_BASE_PORT): number[] {
  return WORKERS.map((_, i) => base + i);
}

export async function startDemoWorkers(ports: number[]): Promise<GpuWorker[]> {
  return Promise.all(
    WORKERS.map((w, i) => startGpuWorker({ port: ports[i]!, name: w.name, speed: w.speed, slots: 4, model: 'switchboard-demo-llm' })),
  );
}

export function demoConfig(ports: number[]): GatewayConfig {
  return {
    upstreams: [
      {
        name: DEMO_UPSTREAM,
        algorithm: 'least-connections',
        targets: ports.map((p) => ({ url: `http://127.0.0.1:${p}`, weight: 1, backup: false })),
        healthCheck: {
          active: { type: 'http', path: '/health', intervalMs: 2000, timeoutMs: 1000, healthyThreshold: 2, unhealthyThreshold: 3, expectedStatus: [200] },
          passive: { consecutiveFailures: 5, ejectMs: 30000, maxEjectMs: 300000, maxEjectionPercent: 50, failOn: [500, 502, 503, 504] },
        },
      } as GatewayConfig['upstreams'][number],
    ],
    routes: [
      {
        name: 'openai',
        methods: ['POST'],
        paths: ['/v1/chat/completions', '/v1/completions'],
        upstream: DEMO_UPSTREAM,
        auth: 'api-key',
        // OpenAI's clients read {"error": …}; GET /v1/models is answered by the gateway from this match.
        errorFormat: 'openai',
        match: { body: { model: ['switchboard-demo-llm'] } },
        timeoutMs: 120000,
        idleTimeoutMs: 30000,
        retries: 1,
        docs: { summary: 'OpenAI-compatible inference', description: 'Chat and text completions, streamed with "stream": true.', tags: ['inference'], public: true },
      } as GatewayConfig['routes'][number],
    ],
    consumers: [{ name: 'acme', rateLimit: { max: 600, windowMs: 60000 } } as GatewayConfig['consumers'][number]],
  };
}
