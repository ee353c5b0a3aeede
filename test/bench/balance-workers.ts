/**
 * The balancing bench's GPU pool, run as its own process so the simulated workers never share
 * an event loop with the gateway or the load generator. The simulator has no HTTP kill switch
 * (a killed worker cannot answer one), so this process adds a small control listener on its own
 * port:
 *   GET  /stats     → every worker's `stats()`, dead ones included
 *   POST /kill/N    → worker N (0-based) stops listening and drops its connections
 *   POST /revive/N  → worker N listens again on the same port
 *
 * argv: JSON `BalanceWorkersOptions`; prints `ready` once every worker listens.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type GpuWorker, startGpuWorker } from '../../gateway/src/simulator/gpu-worker.js';

export interface BalanceWorkerSpec {
  name: string;
  port: number;
  /** Service-time multiplier: 3 = three times slower. */
  speed: number;
}

export interface BalanceWorkersOptions {
  workers: BalanceWorkerSpec[];
  controlPort: number;
  host: string;
  slots: number;
  prefillMs: number;
  tokenMs: number;
  maxQueue: number;
  /** The inference bench's prefill per uncached prompt token and prefix cache (default: none). */
  prefillMsPerToken?: number;
  prefixCacheBlocks?: number;
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as BalanceWorkersOptions;
  const workers: GpuWorker[] = [];
  for (const spec of options.workers) {
    workers.push(await startGpuWorker({
      host: options.host,
      port: spec.port,
      name: spec.name,
      speed: spec.speed,
      slots: options.slots,
      prefillMs: options.prefillMs,
      tokenMs: options.tokenMs,
      maxQueue: options.maxQueue,
      prefillMsPerToken: options.prefillMsPerToken ?? 0,
      prefixCacheBlocks: options.prefixCacheBlocks ?? 0,
    }));
  }

  const answer = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const control = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    req.resume();
    const url = req.url ?? '/';
    if (req.method === 'GET' && url === '/stats') return answer(res, 200, workers.map((worker) => worker.stats()));
    const action = /^\/(kill|revive)\/(\d+)$/.exec(url);
    const worker = action ? workers[Number(action[2])] : undefined;
    if (req.method !== 'POST' || action === null || worker === undefined) return answer(res, 404, { error: `no ${req.method} ${url}` });
    if (action[1] === 'kill') await worker.kill();
    else await worker.revive();
    answer(res, 200, worker.stats());
  };
  const server = createServer((req, res) => {
    control(req, res).catch((error: unknown) => answer(res, 500, { error: (error as Error).message }));
  });
  await new Promise<void>((resolve) => server.listen(options.controlPort, options.host, resolve));
  process.stdout.write('ready\n');

  const stop = (): void => {
    server.close();
    void Promise.all(workers.map((worker) => worker.close())).finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

await main();
