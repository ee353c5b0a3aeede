import { createServer, type Server } from 'node:net';
import { get } from 'node:http';
import type { Child } from './child-processes.js';

export const BENCH_HOST = '127.0.0.1';

/**
 * Asks the kernel for `count` distinct free ports. All listeners stay open until every port is
 * known, so the same port cannot be handed out twice in one call.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, BENCH_HOST, () => resolve());
      });
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('no port assigned');
      ports.push(address.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}

function statusOf(url: string, headers?: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    // agent: false — a probe must not leave a pooled connection open to the contender.
    const request = get(url, { agent: false, timeout: 1000, headers }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(0));
  });
}

/**
 * Polls `url` until it answers 200. Gives up early, with the child's last output, when the
 * process that should answer has died — a config error then reads as one, not as a timeout.
 * `headers` go with every probe (a contender whose route wants an API key).
 */
export async function waitForHttpOk(url: string, timeoutMs: number, child?: Child, headers?: Record<string, string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastStatus = 0;
  while (Date.now() < deadline) {
    if (child?.hasExited()) {
      throw new Error(`${child.name} exited before ${url} answered:\n${child.outputTail()}`);
    }
    lastStatus = await statusOf(url, headers);
    if (lastStatus === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const seen = lastStatus === 0 ? 'no answer' : `last status ${lastStatus}`;
  const tail = child ? `\n${child.outputTail()}` : '';
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (${seen})${tail}`);
}
