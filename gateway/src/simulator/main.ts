/**
 * Command line for simulated GPU workers, for demos, docker compose and manual load tests:
 *   node dist/gateway/src/simulator/main.js --port 9001 --slots 4 --speed 1 --name w1
 *   node dist/gateway/src/simulator/main.js --count 3 --base-port 9001 --speed 1,1,3
 * Prints one line per worker, its URL first, and runs until SIGINT/SIGTERM.
 */

import { parseArgs } from 'node:util';

import { type GpuWorker, type GpuWorkerOptions, startGpuWorker } from './gpu-worker.js';

const USAGE = `Usage: main.js [options]
  --port N              port of a single worker (default 8000; 0 = any free port)
  --count N             number of workers (default 1)
  --base-port N         first port when --count > 1; worker i listens on base-port + i
  --host H              listen address (default 127.0.0.1)
  --name NAME           worker name (default w1); with --count, NAME1, NAME2, ... (default w)
  --model ID            model id reported (default sim-llm)
  --slots N             concurrent requests computed (default 4)
  --max-queue N         requests waiting before 503 + Retry-After (default 256)
  --prefill-ms MS       fixed time per request (default 20)
  --token-ms MS         time per generated token (default 5)
  --speed X[,Y,...]     service-time multiplier; a list gives each worker its own, cycling
  --default-max-tokens N  tokens when a request sets no max_tokens (default 16)
  --prefill-ms-per-token MS  prefill time per prompt token not in the prefix cache (default 0)
  --prefix-cache-blocks N    prefix-cache capacity in blocks of 16 tokens (default 0 = none)
  --fail-rate R         share of requests answered 500 (default 0)
  --unhealthy           start with /health answering 503
  --help`;

function parseCommandLine() {
  return parseArgs({
    options: {
      port: { type: 'string' },
      count: { type: 'string' },
      'base-port': { type: 'string' },
      host: { type: 'string' },
      name: { type: 'string' },
      model: { type: 'string' },
      slots: { type: 'string' },
      'max-queue': { type: 'string' },
      'prefill-ms': { type: 'string' },
      'token-ms': { type: 'string' },
      speed: { type: 'string' },
      'default-max-tokens': { type: 'string' },
      'prefill-ms-per-token': { type: 'string' },
      'prefix-cache-blocks': { type: 'string' },
      'fail-rate': { type: 'string' },
      unhealthy: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
}

let values: ReturnType<typeof parseCommandLine>['values'];
try {
  ({ values } = parseCommandLine());
} catch (error) {
  console.error(`${(error as Error).message}\n\n${USAGE}`);
  process.exit(2);
}

if (values.help === true) {
  console.log(USAGE);
  process.exit(0);
}

function numberFlag(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value)) {
    console.error(`--${flag} must be a number, got "${raw}"\n\n${USAGE}`);
    process.exit(2);
  }
  return value;
}

const count = numberFlag('count', values.count) ?? 1;
if (!Number.isInteger(count) || count < 1) {
  console.error(`--count must be a whole number of at least 1\n\n${USAGE}`);
  process.exit(2);
}
const basePort = numberFlag('base-port', values['base-port']) ?? numberFlag('port', values.port) ?? 8000;
const speeds = (values.speed ?? '1').split(',').map((raw) => numberFlag('speed', raw) ?? 1);

const workers: GpuWorker[] = [];
try {
  for (let i = 0; i < count; i += 1) {
    const options: GpuWorkerOptions = {
      // Port 0 stays 0 for every worker: each gets its own free port.
      port: basePort === 0 ? 0 : basePort + i,
      name: count === 1 ? (values.name ?? 'w1') : `${values.name ?? 'w'}${i + 1}`,
      speed: speeds[i % speeds.length]!,
    };
    if (values.host !== undefined) options.host = values.host;
    if (values.model !== undefined) options.model = values.model;
    const numeric: Array<[keyof GpuWorkerOptions, string]> = [
      ['slots', 'slots'],
      ['maxQueue', 'max-queue'],
      ['prefillMs', 'prefill-ms'],
      ['tokenMs', 'token-ms'],
      ['defaultMaxTokens', 'default-max-tokens'],
      ['prefillMsPerToken', 'prefill-ms-per-token'],
      ['prefixCacheBlocks', 'prefix-cache-blocks'],
      ['failRate', 'fail-rate'],
    ];
    for (const [option, flag] of numeric) {
      const value = numberFlag(flag, values[flag as keyof typeof values] as string | undefined);
      if (value !== undefined) (options as Record<string, unknown>)[option] = value;
    }
    if (values.unhealthy === true) options.unhealthy = true;
    const worker = await startGpuWorker(options);
    workers.push(worker);
    const { switches } = worker.stats();
    console.log(`${worker.url} ${worker.name} model=${worker.model} slots=${switches.slots} speed=${switches.speed}`);
  }
} catch (error) {
  console.error(`simulator: ${(error as Error).message}`);
  await Promise.all(workers.map((worker) => worker.close()));
  process.exit(1);
}

async function shutdown(): Promise<void> {
  await Promise.all(workers.map((worker) => worker.close()));
  process.exit(0);
}
process.once('SIGINT', () => void shutdown());
process.once('SIGTERM', () => void shutdown());
