import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';

const PROTO = fileURLToPath(new URL('../../../test/grpc/health.proto', import.meta.url));

/** A @grpc/grpc-js server whose grpc.health.v1.Health/Check answers `status` for every service, and records the names asked. */
async function healthServer(status: 'SERVING' | 'NOT_SERVING') {
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO, { keepCase: true, enums: String })) as unknown as {
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  const asked: string[] = [];
  const server = new grpc.Server();
  server.addService(pkg.grpc.health.v1.Health.service, {
    Check(call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<{ status: string }>) {
      asked.push(call.request.service);
      cb(null, { status });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, url: `http://127.0.0.1:${port}`, asked };
}

describe('active health checks with the gRPC health protocol (healthCheck.active.type "grpc")', () => {
  let serving: Awaited<ReturnType<typeof healthServer>>;
  let notServing: Awaited<ReturnType<typeof healthServer>>;
  let gw: TestGateway;

  before(async () => {
    serving = await healthServer('SERVING');
    notServing = await healthServer('NOT_SERVING');
    gw = await startGateway({
      upstreams: [
        {
          name: 'triton',
          protocol: 'h2c',
          targets: [{ url: serving.url }, { url: notServing.url }],
          healthCheck: { active: { type: 'grpc', grpcService: 'inference', intervalMs: 100, timeoutMs: 500, unhealthyThreshold: 1, healthyThreshold: 1 } },
        },
      ],
      routes: [],
    });
  });
  after(async () => {
    await gw?.close();
    serving?.server.forceShutdown();
    notServing?.server.forceShutdown();
  });

  test('a NOT_SERVING target is marked unhealthy and a SERVING one stays healthy, asked about the configured service', async () => {
    const state = (url: string) => gw.node.targets.get(url)!.state;
    await waitFor(() => state(notServing.url).lastCheck !== undefined && state(serving.url).lastCheck !== undefined, 5000, 'both probed');
    await waitFor(() => !state(notServing.url).healthy, 5000, 'the NOT_SERVING target marked unhealthy');
    assert.equal(state(notServing.url).lastCheck?.detail, 'NOT_SERVING');
    assert.equal(state(serving.url).healthy, true);
    assert.equal(state(serving.url).lastCheck?.detail, 'SERVING');
    assert.ok(serving.asked.length > 0 && serving.asked.every((s) => s === 'inference'), serving.asked.join(','));
    assert.deepEqual(gw.node.upstreams.get('triton')!.eligibleMembers().map((m) => m.target.url), [serving.url]);
  });

  test('a target that does not speak gRPC at all is down, with a reason', async () => {
    const { createGrpcProbe } = await import('../../gateway/src/health/probe-grpc.js');
    const probe = createGrpcProbe('http://127.0.0.1:1', { type: 'grpc', path: '/', timeoutMs: 500, expectedStatus: [200] });
    const result = await probe.run();
    assert.equal(result.ok, false);
    assert.match(result.detail, /refused|ECONNREFUSED/);
  });
});
