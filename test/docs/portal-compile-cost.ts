/**
 * What the docs portal adds to compiling one revision (the reload path; proxied requests never
 * reach it). Compiles the same 200-route revision with and without the portal, interleaved:
 *   node dist/test/docs/portal-compile-cost.js
 * Prints the median milliseconds per generation for each. Not part of `npm test`.
 */
import type { FastifyInstance } from 'fastify';
import { compileGeneration } from '../../gateway/src/generation/compile.js';
import { systemRoutes } from '../../gateway/src/node/system-routes.js';
import { defaultStages } from '../../plugins/index.js';
import { startGateway } from '../helpers/gateway.js';

const ROUNDS = Number(process.env.ROUNDS ?? 8);
const PER_ROUND = 10;
const routes = Array.from({ length: 200 }, (_, i) => ({ name: `r${i}`, paths: [`/r${i}/:id`], upstream: 'p', auth: i % 2 ? 'api-key' : 'none', docs: { summary: `route ${i}` } }));
const gw = await startGateway({ upstreams: [{ name: 'p', targets: [{ url: 'http://127.0.0.1:9' }] }], routes, consumers: [{ name: 'c' }] });
const state = await gw.store.read();
const plan = gw.node.upstreams.plan(state.upstreams);
const variants: Record<string, (app: FastifyInstance) => void | Promise<void>> = {
  'healthz only': (app) => void app.get('/healthz', () => ({ status: 'ok' })),
  'healthz + docs portal': (app) => systemRoutes(app, state, gw.node.services),
};
const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, routesOf] of Object.entries(variants)) {
    const started = performance.now();
    for (let i = 0; i < PER_ROUND; i++) {
      const generation = await compileGeneration(state, { pools: plan.pools, stages: defaultStages(), services: gw.node.services, observer: undefined, systemRoutes: routesOf });
      await generation.retire();
    }
    times[name]!.push((performance.now() - started) / PER_ROUND);
  }
}
for (const [name, list] of Object.entries(times)) {
  const sorted = [...list].sort((a, b) => a - b);
  console.log(`${name.padEnd(24)} median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms per generation (${list.map((t) => t.toFixed(0)).join(' ')})`);
}
plan.rollback();
await gw.close();
