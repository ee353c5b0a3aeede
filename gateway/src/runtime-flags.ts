/**
 * V8 flags the gateway runs with (npm start, `switchboard start`, the benchmarks; package.json's
 * start script spells them out too). A young generation of 8 MiB semi-spaces keeps the proxy's
 * short-lived per-request objects in cache: measured here side by side (Node 24, 64
 * connections), 41-43 µs of CPU per request and 168 MiB peak RSS against 47-49 µs and 257 MiB
 * with V8's default sizing on this 24 GiB machine. `NODE_OPTIONS` or explicit flags win.
 */
export const GATEWAY_V8_FLAGS: readonly string[] = ['--max-semi-space-size=8'];
