import { Type, type Static } from '@sinclair/typebox';
import { Milliseconds, Name, StoredFields } from './common.js';

/** The configuration word is the file name under gateway/src/balancer/. */
export const ALGORITHMS = [
  'round-robin',
  'weighted-round-robin',
  'least-connections',
  'least-response-time',
  'power-of-two',
  'random',
  'ip-hash',
  'consistent-hash',
  'least-queue',
  'prefix-affinity',
] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

/** HTTP/1.1, HTTP/2 over TLS, or HTTP/2 in the clear with prior knowledge (gRPC servers). */
export const UPSTREAM_PROTOCOLS = ['http1', 'h2', 'h2c'] as const;
export type UpstreamProtocol = (typeof UPSTREAM_PROTOCOLS)[number];

export const Target = Type.Object(
  {
    url: Type.String({ pattern: '^https?://[^/\\s]+/?$', description: 'Origin of one worker, e.g. http://10.0.0.5:8000' }),
    weight: Type.Integer({ minimum: 0, maximum: 10000, default: 1 }),
    backup: Type.Boolean({ default: false, description: 'Used only when no primary target is available.' }),
    maxConnections: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Circuit breaker: at most this many requests in flight to the target.' }),
    ),
    draining: Type.Optional(Type.Boolean({ default: false, description: 'No new requests; in-flight ones finish.' })),
  },
  { additionalProperties: false },
);
export type Target = Static<typeof Target>;

export const HashOn = Type.Object(
  {
    source: Type.Union(
      ['ip', 'header', 'cookie', 'query', 'consumer'].map((s) => Type.Literal(s)),
      { default: 'ip' },
    ),
    name: Type.Optional(Type.String({ minLength: 1, description: 'Header, cookie or query parameter name.' })),
    fallback: Type.Optional(
      Type.Union([Type.Literal('ip'), Type.Literal('round-robin')], {
        default: 'ip',
        description: 'What to hash on when the key is absent from a request.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const ActiveHealthCheck = Type.Object(
  {
    type: Type.Union([Type.Literal('http'), Type.Literal('tcp'), Type.Literal('icmp'), Type.Literal('grpc')], { default: 'http' }),
    path: Type.String({ default: '/health', pattern: '^/' }),
    grpcService: Type.Optional(
      Type.String({ maxLength: 200, description: 'type "grpc": the service name asked of grpc.health.v1.Health/Check ("" = the whole server).' }),
    ),
    intervalMs: Type.Integer({ minimum: 100, default: 2000 }),
    timeoutMs: Type.Integer({ minimum: 10, default: 1000 }),
    healthyThreshold: Type.Integer({ minimum: 1, default: 2 }),
    unhealthyThreshold: Type.Integer({ minimum: 1, default: 3 }),
    expectedStatus: Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { default: [200], minItems: 1 }),
  },
  { additionalProperties: false },
);

export const PassiveHealthCheck = Type.Object(
  {
    consecutiveFailures: Type.Integer({ minimum: 1, default: 5 }),
    ejectMs: Type.Integer({ minimum: 100, default: 30000 }),
    maxEjectMs: Type.Integer({ minimum: 100, default: 300000, description: 'Cap for the doubling ejection time.' }),
    maxEjectionPercent: Type.Integer({ minimum: 0, maximum: 100, default: 50 }),
    failOn: Type.Array(Type.Integer({ minimum: 500, maximum: 599 }), {
      default: [500, 502, 503, 504],
      description: 'Upstream statuses counted as failures (connect errors and timeouts always count).',
    }),
  },
  { additionalProperties: false },
);

export const LoadMetrics = Type.Object(
  {
    path: Type.String({ default: '/metrics', pattern: '^/' }),
    intervalMs: Type.Integer({ minimum: 100, default: 1000 }),
    staleMs: Type.Integer({ minimum: 100, default: 5000 }),
    waiting: Type.Optional(Type.Array(Type.String(), { description: 'Metric names for queued requests.' })),
    running: Type.Optional(Type.Array(Type.String(), { description: 'Metric names for running requests.' })),
    cacheUsage: Type.Optional(Type.Array(Type.String(), { description: 'Metric names for KV-cache usage (0..1).' })),
  },
  { additionalProperties: false },
);

/**
 * Flow control: when every eligible target is at its `maxConnections`, requests wait here (in the
 * gateway, holding no upstream socket) and are released by weighted fair share between consumers
 * within strict priority classes (consumer `weight` and `priority`).
 */
export const UpstreamQueue = Type.Object(
  {
    maxSize: Type.Integer({ minimum: 1, maximum: 100000, default: 1000, description: 'Requests that may wait at once; one more is refused with 503 (or displaces a later-tagged waiter).' }),
    timeoutMs: Type.Integer({ minimum: 1, maximum: 600000, default: 30000, description: 'Longest wait for a free slot; then 503 with Retry-After.' }),
  },
  { additionalProperties: false },
);
export type UpstreamQueue = Static<typeof UpstreamQueue>;

/** `algorithm: "prefix-affinity"`: the key is a hash of the prompt's leading characters. */
export const PrefixAffinity = Type.Object(
  {
    prefixChars: Type.Integer({ minimum: 1, maximum: 1000000, default: 1024, description: 'Leading characters of the messages (role and content) or prompt that make the key.' }),
    loadFactor: Type.Number({ minimum: 0, maximum: 10, default: 0.25, description: 'ε of bounded loads: a target above (1 + ε) × the mean in-flight is passed over (HAProxy hash-balance-factor 125 = 0.25).' }),
  },
  { additionalProperties: false },
);
export type PrefixAffinity = Static<typeof PrefixAffinity>;

export const Upstream = Type.Object(
  {
    ...StoredFields,
    name: Name,
    algorithm: Type.Union(
      ALGORITHMS.map((a) => Type.Literal(a)),
      { default: 'round-robin' },
    ),
    hashOn: Type.Optional(HashOn),
    tls: Type.Optional(
      Type.Object(
        {
          clientCertificate: Type.Optional(Type.String({ minLength: 1, description: 'Name of a stored certificate (and its key) presented to https targets that require a client certificate.' })),
          ca: Type.Optional(Type.String({ minLength: 1, description: "PEM CA certificate(s) the targets' certificates are verified against, instead of the system's." })),
        },
        { additionalProperties: false, description: 'TLS towards https targets: mutual TLS and a private CA.' },
      ),
    ),
    protocol: Type.Optional(
      Type.Union(UPSTREAM_PROTOCOLS.map((p) => Type.Literal(p)), {
        description: 'How the gateway talks to the targets (absent = http1): HTTP/1.1, HTTP/2 over TLS (https targets, ALPN h2) or h2c (HTTP/2 with prior knowledge, http targets; gRPC servers).',
      }),
    ),
    targets: Type.Array(Target, { minItems: 1 }),
    healthCheck: Type.Optional(
      Type.Object(
        { active: Type.Optional(ActiveHealthCheck), passive: Type.Optional(PassiveHealthCheck) },
        { additionalProperties: false },
      ),
    ),
    slowStartMs: Milliseconds(0, 'Ramp a recovered target from 10% to its full weight over this time.'),
    panicThreshold: Type.Integer({
      minimum: 0,
      maximum: 100,
      default: 0,
      description: 'When the healthy share falls below this percent, spread over all targets (0 = answer 503).',
    }),
    sticky: Type.Optional(
      Type.Object(
        { cookie: Type.String({ minLength: 1, default: 'sb_sticky' }), ttlMs: Type.Integer({ minimum: 0, default: 3600000 }) },
        { additionalProperties: false },
      ),
    ),
    loadMetrics: Type.Optional(LoadMetrics),
    trustedProxies: Type.Optional(
      Type.Array(Type.String(), { description: 'CIDRs whose x-forwarded-for is believed for ip-hash.' }),
    ),
    queue: Type.Optional(UpstreamQueue),
    prefixAffinity: Type.Optional(PrefixAffinity),
    retryBudgetPercent: Type.Integer({
      minimum: 0,
      maximum: 100,
      default: 20,
      description: 'Retries may add at most this percent on top of first attempts (min 3 per second).',
    }),
  },
  { additionalProperties: false },
);
export type Upstream = Static<typeof Upstream>;
