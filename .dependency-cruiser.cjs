/**
 * The request path runs one way — node → generation → proxy → balancer — and every other folder
 * has its place in one order. A module may import from its own layer or any layer BELOW it,
 * never from one above, and no import cycle may exist anywhere. The README's Architecture
 * section lists the same layers; test/architecture/layers.test.ts runs this in `npm test`.
 *
 * Highest first. A new folder or top-level file must be added here (the "unlayered" rule fails
 * on any source file that imports or is imported without a layer).
 */
const LAYERS = [
  ['entry', '^gateway/src/(main|demo|runtime-flags)\\.[jt]s$|^gateway/src/cli/|^gateway/src/cluster/'],
  ['admin', '^gateway/src/admin/'],
  ['settings', '^gateway/src/env\\.[jt]s$'],
  ['node', '^gateway/src/node/'],
  ['docs', '^gateway/src/docs/'],
  ['plugins', '^plugins/'],
  ['generation', '^gateway/src/generation/'],
  ['proxy', '^gateway/src/proxy/'],
  ['streams', '^gateway/src/streams/'],
  ['health', '^gateway/src/health/'],
  ['metrics', '^gateway/src/metrics/'],
  ['keys', '^gateway/src/keys/'],
  ['config', '^gateway/src/config/'],
  ['balancer', '^gateway/src/balancer/'],
  ['tracing', '^gateway/src/tracing/'],
  ['contracts', '^gateway/src/contracts/|^gateway/src/(errors|logger|redact-url)\\.[jt]s$'],
  ['store', '^gateway/src/store/'],
  ['simulator', '^gateway/src/simulator/'],
  ['spec', '^spec/'],
];

const ANY_LAYER = LAYERS.map(([, path]) => `(?:${path})`).join('|');

const upward = LAYERS.slice(1).map(([name, path], i) => ({
  name: `layer-${name}`,
  comment: `${name} is below ${LAYERS.slice(0, i + 1)
    .map(([n]) => n)
    .join(', ')}: it must not import from them`,
  severity: 'error',
  from: { path },
  to: { path: LAYERS.slice(0, i + 1).map(([, p]) => `(?:${p})`).join('|') },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle makes the direction of the path meaningless and the load order fragile.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...upward,
    {
      name: 'unlayered',
      comment: 'Every source file sits in a layer of .dependency-cruiser.cjs (add new folders there).',
      severity: 'error',
      from: { path: '^(gateway|plugins|spec)/', pathNot: ANY_LAYER },
      to: { path: '^(gateway|plugins|spec)/' },
    },
    {
      name: 'unlayered-target',
      comment: 'Every source file sits in a layer of .dependency-cruiser.cjs (add new folders there).',
      severity: 'error',
      from: { path: '^(gateway|plugins|spec)/' },
      to: { path: '^(gateway|plugins|spec)/', pathNot: ANY_LAYER },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist)/' },
    moduleSystems: ['es6'],
  },
};
