/**
 * V8 flags the gateway runs with (npm start, `switchboard start`, the benchmarks; package.json's
 * start script and the image's CMD spell them out too). A small young generation keeps the
 * proxy's short-lived per-request objects in cache: measured here side by side (Node 24, 64
 * connections), 8 MiB semi-spaces gave 41-43 µs of CPU per request and 168 MiB peak RSS
 * against 47-49 µs and 257 MiB with V8's default sizing on this 24 GiB machine. 4 MiB halves
 * the new space V8 keeps committed (16 → 8 MiB) at no CPU cost the runs could see: five
 * interleaved pairs of nodes (plain 10- and 10 000-route nodes, the bench's plain and full
 * pipeline contenders) put CPU per request within the run-to-run noise either way, and peak RSS
 * 2-14 MiB lower (pipeline contender 174 → 160 MiB). `NODE_OPTIONS` or explicit flags win.
 *
 * `--heap-growing-percent=25`: after each full collection V8 lets the old generation grow to
 * `factor × live` before the next, and on a machine with this much memory the factor is 4
 * (`--trace-gc-verbose`: "[HeapController] factor 4.0 … Limit: old size: 34779 KB, new limit:
 * 147310 KB"). The gateway's live heap is ≈ 35 MB, so under sustained load ≈ 110 MB of dead
 * promoted objects piled up before anything was freed: RSS stepped from ≈ 122 to ≈ 238 MiB
 * between 300 000 and 600 000 requests. No leak: the live size after each full GC stays at
 * 33-37 MB over 700 000 requests. With 1.25 × live the limit is ≈ 50 MB and RSS 142-143 MiB
 * after both 300 000 and 600 000 requests (`npm run chaos -- memory`); the price is a full GC
 * every ≈ 13 s at 3 600 req/s, ≈ 15 ms of pause plus ≈ 20 ms of incremental marking each
 * (50 % gave a 60 MB limit and 155 MiB).
 */
export const GATEWAY_V8_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--heap-growing-percent=25'];

/**
 * glibc's malloc setting for the gateway process, passed as `GLIBC_TUNABLES` (it must be in the
 * environment when the process starts: npm start, `switchboard start` and the image set it; one
 * the operator sets wins). glibc starts with a 128 KiB mmap threshold but raises it (and the
 * trim threshold with it) to the size of each large block it frees, up to 32 MiB, after which it
 * keeps freed space resident however little is live. A fixed threshold turns that off.
 * `malloc_trim(0)` called through gdb on a loaded node gave back 23 MiB of its 164, so that
 * retention was glibc's, not the JavaScript heap's (36-44 MB live either way). Measured here:
 * 10 000 keyed routes with limits (test/scale/staged-routes-cost.ts) 150 against 135 MiB in two
 * pairs; under the chaos memory load (64 connections) RSS after 400 000 requests averaged 153
 * against 163 MiB, but after 1 000 000 both sit at 155-161: the setting gives back what a node
 * does not need now, it does not lower a busy node's plateau. Minor page faults per request in
 * steady state are 0.002-0.006 either way, so large blocks are not mapped and unmapped per
 * request; CPU per request moved within this machine's noise (57-104 µs for one setting).
 * jemalloc (LD_PRELOAD) held 127-144 MiB but cost more CPU pinned (63-86 against 54-68 µs) and
 * is a system library a plain `npm start` cannot count on. musl (Alpine) ignores the variable.
 */
export const GATEWAY_GLIBC_TUNABLES = 'glibc.malloc.mmap_threshold=131072';

/** `env` with the gateway's GLIBC_TUNABLES unless it names its own. */
export function gatewayProcessEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return env.GLIBC_TUNABLES === undefined ? { ...env, GLIBC_TUNABLES: GATEWAY_GLIBC_TUNABLES } : env;
}
