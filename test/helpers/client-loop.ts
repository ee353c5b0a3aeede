import { request, type Dispatcher } from 'undici';

/** Clients that keep sending GETs back to back, counting what failed instead of stopping on it. */
export interface ClientLoop {
  /** Requests finished so far, answered or failed. */
  readonly sent: number;
  /** One line per request that was not answered 200: its status or the error. */
  readonly failures: string[];
  /** Resolves once every client has finished its request in flight. */
  stop(): Promise<void>;
}

/** `clients` loops on `url` through `dispatcher`: the traffic a reload must not disturb. */
export function startClientLoop(url: string, dispatcher: Dispatcher, clients: number): ClientLoop {
  let stopped = false;
  let sent = 0;
  const failures: string[] = [];
  const loop = async () => {
    while (!stopped) {
      try {
        const res = await request(url, { dispatcher });
        await res.body.dump();
        if (res.statusCode !== 200) failures.push(`status ${res.statusCode}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
      sent++;
    }
  };
  const loops = Array.from({ length: clients }, loop);
  return {
    get sent() {
      return sent;
    },
    failures,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}
