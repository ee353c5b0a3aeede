import type { FastifyInstance } from 'fastify';

/**
 * Where one gateway process is in its life, for load balancers and Kubernetes probes:
 * `/livez` — the process runs and its event loop answers (restart it if not);
 * `/readyz` — it should get new traffic: a configuration compiled and in force, its listeners up,
 * not draining. The split is Kubernetes' own (livez/readyz): a draining or not-yet-configured
 * process is alive and must not be restarted, but must receive no new connections.
 */
export class Lifecycle {
  private listening = false;
  private drainingSince: number | undefined;
  private configInForce: () => boolean = () => false;

  /** The listeners accept; `configInForce` says whether a compiled configuration serves now. */
  up(configInForce: () => boolean): void {
    this.configInForce = configInForce;
    this.listening = true;
  }

  /** SIGTERM: /readyz turns 503 from this moment. */
  drain(): void {
    this.drainingSince ??= Date.now();
  }

  get draining(): boolean {
    return this.drainingSince !== undefined;
  }

  readiness(): { ready: boolean; reason?: string } {
    if (this.draining) return { ready: false, reason: 'draining: the process is shutting down' };
    if (!this.listening) return { ready: false, reason: 'starting: listeners not up yet' };
    if (!this.configInForce()) return { ready: false, reason: 'no configuration revision compiles; serving system routes only' };
    return { ready: true };
  }
}

/** Which process of a node answered (WORKERS > 1), so an operator can tell the workers apart. */
export interface WorkerIdentity {
  worker: number;
  pid: number;
}

/** /livez and /readyz on a Fastify app (each public generation, and the admin listener). */
export function registerLifecycleRoutes(app: FastifyInstance, lifecycle: Lifecycle, identity?: WorkerIdentity): void {
  const hide = { schema: { hide: true } };
  app.get('/livez', hide, (_request, reply) => {
    reply.header('cache-control', 'no-store').send({ status: 'live', ...identity });
  });
  app.get('/readyz', hide, (_request, reply) => {
    const { ready, reason } = lifecycle.readiness();
    reply
      .code(ready ? 200 : 503)
      .header('cache-control', 'no-store')
      .send(ready ? { status: 'ready', ...identity } : { status: 'not ready', reason, ...identity });
  });
}
