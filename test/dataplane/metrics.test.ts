import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

let up: EchoUpstream;
let gw: TestGateway;
before(async () => {
  up = await startEchoUpstream('m');
  gw = await startGateway({
    upstreams: [{ name: 'pool', targets: [{ url: up.url }] }],
    routes: [{ name: 'metered', methods: ['GET'], paths: ['/m/*'], upstream: 'pool' }],
    consumers: [],
  });
});
after(async () => {
  await gw.close();
  await up.close();
});

test('the contract metrics count requests by route and status and describe every target', async () => {
  for (let i = 0; i < 5; i++) await (await request(`${gw.url}/m/x`)).body.dump();
  const text = gw.metrics.render();
  assert.match(text, /^switchboard_requests_total\{route="metered",status="200"\} 5$/m);
  assert.match(text, /^switchboard_request_duration_seconds_count\{route="metered"\} 5$/m);
  assert.match(text, /^switchboard_request_duration_seconds_bucket\{route="metered",le="\+Inf"\} 5$/m);
  const target = up.url;
  assert.match(text, new RegExp(`^switchboard_upstream_target_healthy\\{upstream="pool",target="${target}"\\} 1$`, 'm'));
  assert.match(text, new RegExp(`^switchboard_upstream_target_inflight\\{upstream="pool",target="${target}"\\} 0$`, 'm'));
  assert.match(text, /# TYPE switchboard_ratelimit_rejected_total counter/);
});
