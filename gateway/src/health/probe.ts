import type { TlsIdentity } from '../balancer/target-registry.js';

/** What one probe of one target found. */
export interface ProbeResult {
  ok: boolean;
  latencyMs: number;
  /** Short human text for the health API: "HTTP 200", "connection refused", "timeout after 500 ms". */
  detail: string;
}

/** The part of `healthCheck.active` a probe needs. */
export interface ProbeConfig {
  type: 'http' | 'tcp' | 'icmp' | 'grpc';
  path: string;
  /** type "grpc": the service asked about ("" = the whole server). */
  grpcService?: string | undefined;
  timeoutMs: number;
  expectedStatus: readonly number[];
  /**
   * The upstream's TLS identity towards https targets (a client certificate, a private CA): a
   * probe meets the target as its traffic does, or a target that requires a client certificate
   * or has a private CA's certificate would fail every probe while serving traffic.
   */
  tls?: TlsIdentity | undefined;
}

/** One kind of probe bound to one target; `close` frees whatever it keeps open between runs. */
export interface Probe {
  run(): Promise<ProbeResult>;
  close(): void;
}

/** Host and port of a target origin, brackets removed from IPv6 literals. */
export function hostPort(origin: string): { host: string; port: number } {
  const u = new URL(origin);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  return { host, port };
}

/** Node's error codes in the words an operator reads on a dashboard. */
export function describeError(err: unknown): string {
  const e = err as { code?: string; message?: string; name?: string };
  switch (e?.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection reset';
    case 'EHOSTUNREACH':
      return 'host unreachable';
    case 'ENETUNREACH':
      return 'network unreachable';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name not resolved';
  }
  return e?.message ? `${e.code ? e.code + ': ' : ''}${e.message}` : String(err);
}
