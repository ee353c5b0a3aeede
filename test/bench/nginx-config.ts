import { join } from 'node:path';

/**
 * nginx's compiled-in temp paths point into /var/lib/nginx; keeping them (and so all of its
 * files) in the run's temp dir lets the bench run without root and leave nothing behind.
 */
export function nginxTempPaths(workDir: string, prefix: string): string {
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `    ${kind}_temp_path ${join(workDir, `${prefix}-${kind}-temp`)};`)
    .join('\n');
}
