import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';

/**
 * One compiled configuration revision: a ready Fastify instance and its request handler.
 * It counts the requests it is serving so that, once replaced, it can close exactly when the
 * last of them (an hour-long stream included) has finished.
 */
export class Generation {
  private inFlight = 0;
  private retired = false;
  private closed: Promise<void> | undefined;
  private onIdle: (() => void) | undefined;
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;

  constructor(
    readonly revision: number,
    readonly app: FastifyInstance,
    route: (req: IncomingMessage, res: ServerResponse) => void,
  ) {
    const done = () => {
      if (--this.inFlight === 0 && this.retired) this.onIdle?.();
    };
    this.handle = (req, res) => {
      this.inFlight++;
      res.once('close', done);
      route(req, res);
    };
  }

  get activeRequests(): number {
    return this.inFlight;
  }

  /** Stop taking requests (the caller already points new ones elsewhere); close when idle. */
  retire(): Promise<void> {
    if (this.closed) return this.closed;
    this.retired = true;
    this.closed = new Promise<void>((resolve) => {
      this.onIdle = resolve;
      if (this.inFlight === 0) resolve();
    }).then(() => this.app.close());
    return this.closed;
  }
}
