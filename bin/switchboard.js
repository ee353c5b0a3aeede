#!/usr/bin/env node
// The `switchboard` command: validate, export, import, start. Compiled code lives in dist/.
import('../dist/gateway/src/cli/main.js').catch((err) => {
  process.stderr.write(`switchboard: ${err?.message ?? err}\n(run "npm ci" or "npm run build" first)\n`);
  process.exit(2);
});
