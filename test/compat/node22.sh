#!/usr/bin/env bash
# Run the built test suite on Node 22 as well: the project ships Node 24 (the npm `node`
# package) but declares engines >=22.19, so 22 must keep working. Node 22 comes from the npm
# registry's `node` package too, installed beside the project, not over it.
set -euo pipefail
cd "$(dirname "$0")/../.."
prefix=.tmp/node22
if [ ! -x "$prefix/node_modules/.bin/node" ]; then
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-save --no-audit --no-fund node@22 >/dev/null
fi
echo "compat: $("$prefix/node_modules/.bin/node" --version)"
"$prefix/node_modules/.bin/node" --test --test-concurrency=2 --test-timeout=120000 "dist/test/**/*.test.js"
