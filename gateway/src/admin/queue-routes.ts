import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ProblemError } from '../errors.js';
import { ANONYMOUS } from '../metrics/queue-metrics.js';
import type { AdminDeps } from './admin-deps.js';
import { ItemRef, ProblemSchema } from './admin-schemas.js';
import { poolInForce } from './pool-in-force.js';

const QueueConsumerSchema = Type.Object({
  consumer: Type.String({ description: 'Consumer name; "anonymous" for requests without one.' }),
  waiting: Type.Integer(),
  released: Type.Integer({ description: 'Waits that ended with a target.' }),
  refusedFull: Type.Integer({ description: 'Refused 503 because the queue was full (at arrival or displaced later).' }),
  refusedTimeout: Type.Integer({ description: 'Refused 503 after timeoutMs.' }),
  cancelled: Type.Integer({ description: 'The client left while waiting.' }),
  meanWaitMs: Type.Number({ description: 'Mean wait of the waits that ended.' }),
});

const QueueSchema = Type.Object({
  upstream: Type.String(),
  maxSize: Type.Integer(),
  timeoutMs: Type.Integer(),
  depth: Type.Integer({ description: 'Requests waiting now.' }),
  oldestWaitMs: Type.Number(),
  consumers: Type.Array(QueueConsumerSchema),
});

/**
 * Flow control as this node sees it: the upstream's queue now and, per consumer, how its waits
 * ended since the pool came into force (the same numbers /metrics serves).
 */
export function registerQueueRoute(app: FastifyInstance, deps: AdminDeps): void {
  app.get(
    '/upstreams/:id/queue',
    {
      schema: {
        tags: ['upstreams'],
        summary: "The upstream's flow-control queue on this node: depth, and waits per consumer",
        params: ItemRef,
        response: { 200: QueueSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema },
      },
    },
    async (request) => {
      const ref = (request.params as { id: string }).id;
      const { upstream, pool } = await poolInForce(deps, ref);
      const queue = pool.queue;
      if (!queue) throw new ProblemError(404, 'not-found', `upstream "${upstream.name}" has no queue (set queue: {maxSize, timeoutMs} to enable flow control)`);
      const consumers = [...queue.flows()].map(([flow, s]) => {
        const ended = s.released + s.refusedFull + s.refusedTimeout + s.cancelled;
        return {
          consumer: flow || ANONYMOUS,
          waiting: s.waiting,
          released: s.released,
          refusedFull: s.refusedFull,
          refusedTimeout: s.refusedTimeout,
          cancelled: s.cancelled,
          meanWaitMs: ended > 0 ? (1000 * s.waitSeconds) / ended : 0,
        };
      });
      return { upstream: upstream.name, maxSize: queue.maxSize, timeoutMs: queue.timeoutMs, depth: queue.size, oldestWaitMs: queue.oldestWaitMs(), consumers };
    },
  );
}
