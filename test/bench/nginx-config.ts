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

export interface NginxProxyOptions {
  workDir: string;
  /** File-name stem for pid, logs and temp paths. */
  stem: string;
  host: string;
  port: number;
  /** `host:port[ params]` per upstream server. */
  servers: string[];
  /** Balancing directive inside the upstream block (round robin when absent). */
  balance?: string;
  /** Extra directives inside `location /`. */
  locationDirectives?: string[];
  /** Extra `location` blocks (readiness probes). */
  extraLocations?: string[];
  errorLogLevel?: 'warn' | 'error';
}

/**
 * One worker, access log off, every file in the run's temp dir, and `keepalive 256` to the
 * upstreams — above the benches' peak concurrency on purpose: a pool smaller than the
 * concurrency reconnects constantly and doubles p99 (DESIGN.md, measured facts).
 */
export function nginxReverseProxyConfig(o: NginxProxyOptions): string {
  const indent = (lines: string[] | undefined, pad: string) => (lines ?? []).map((l) => `${pad}${l}\n`).join('');
  return `daemon off;
master_process on;
worker_processes 1;
pid ${join(o.workDir, `${o.stem}.pid`)};
error_log ${join(o.workDir, `${o.stem}-error.log`)} ${o.errorLogLevel ?? 'warn'};
events { worker_connections 4096; }
http {
    access_log off;
${nginxTempPaths(o.workDir, o.stem)}
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    upstream pool {
${o.balance ? `        ${o.balance};\n` : ''}${indent(o.servers.map((s) => `server ${s};`), '        ')}        keepalive 256;
        keepalive_requests 10000000;
        keepalive_timeout 120s;
    }
    server {
        listen ${o.host}:${o.port};
${indent(o.extraLocations, '        ')}        location / {
            proxy_pass http://pool;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
${indent(o.locationDirectives, '            ')}        }
    }
}
`;
}
