#!/usr/bin/env node
// The `switchboard` command: start, validate, export, import. Compiled code lives in dist/.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';


const args = process.argv.slice(2);
const flagsGiven = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((f) => f.includes('--max-semi-space-size'));
if (args[0] === 'start' && !flagsGiven) {
  // See gateway/src/runtime-flags.ts for why these flags.
  const { GATEWAY_V8_FLAGS, gatewayProcessEnv } = await import('../dist/gateway/src/runtime-flags.js');
  // Flags (and glibc's malloc setting) must be set before V8 sizes its heap, so the gateway runs
  // in a child process that shares this one's stdio and process group, and receives its signals.
  const child = spawn(process.execPath, [...GATEWAY_V8_FLAGS, ...process.execArgv, fileURLToPath(import.meta.url), ...args], {
    stdio: 'inherit',
    env: gatewayProcessEnv(process.env),
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  import('../dist/gateway/src/cli/main.js').catch((err) => {
    process.stderr.write(`switchboard: ${err?.message ?? err}\n(run "npm ci" or "npm run build" first)\n`);
    process.exit(2);
  });
}
