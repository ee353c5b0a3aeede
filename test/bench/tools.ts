import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * The external programs a bench can use. Each is optional: a missing one skips its contender
 * (or falls back) with a line saying how to install it, never a crash.
 */
export type ToolName = 'nginx' | 'haproxy' | 'wrk';

const INSTALL_HINTS: Record<ToolName, string> = {
  nginx: 'apt-get install -y nginx',
  haproxy: 'apt-get install -y haproxy',
  wrk: 'apt-get install -y wrk',
};

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `BENCH_WITHOUT=nginx,wrk` pretends those are not installed, to try the fallbacks. */
function pretendMissing(name: ToolName): boolean {
  return (process.env.BENCH_WITHOUT ?? '').split(',').map((entry) => entry.trim()).includes(name);
}

/** Debian puts nginx and haproxy in /usr/sbin, which is often not on a normal user's PATH. */
export function findTool(name: ToolName): string | undefined {
  if (pretendMissing(name)) return undefined;
  const directories = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/bin'];
  for (const directory of directories) {
    if (directory === '') continue;
    const candidate = join(directory, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function missingToolLine(name: ToolName, consequence: string): string {
  return `${name} not found — ${consequence}. Install it with: ${INSTALL_HINTS[name]}`;
}
