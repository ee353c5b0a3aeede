import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** This file runs as dist/test/bench/paths.js; the repository is three levels up. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * The project's Node (24, from the npm registry) rather than whatever `node` is on PATH, so the
 * gateway and the helpers run on the version the product ships with.
 */
export const nodeBinary = existsSync(join(repoRoot, 'node_modules/.bin/node'))
  ? join(repoRoot, 'node_modules/.bin/node')
  : process.execPath;

/** A compiled sibling script of the bench, e.g. `upstream-server.js`. */
export function benchScript(fileName: string): string {
  return fileURLToPath(new URL(`./${fileName}`, import.meta.url));
}
