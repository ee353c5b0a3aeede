/** How the public side listens beyond plain HTTP/1.1 on PORT (environment of the contract). */
export interface EdgeSettings {
  /** TLS_PORT: the TLS listener (HTTP/2 and HTTP/1.1 by ALPN); undefined = off. */
  tlsPort?: number | undefined;
  /** TLS_HOST: its address; HOST when unset. */
  tlsHost?: string | undefined;
  /** TLS_CERT_FILE / TLS_KEY_FILE: the default certificate (no SNI, or an SNI no stored certificate claims). */
  tlsCertFile?: string | undefined;
  tlsKeyFile?: string | undefined;
  /** The default certificate's PEMs themselves (embedders, tests); win over the files. */
  defaultCertificate?: { cert: string; key: string } | undefined;
  /**
   * TLS_CLIENT_CA_FILE: ask TLS clients for a certificate and verify it against these CAs (PEM).
   * Requested, not required: `auth: "mtls"` routes refuse a request without a verified one.
   */
  tlsClientCaFile?: string | undefined;
  /** The client CAs' PEM itself (embedders, tests); wins over the file. */
  clientCa?: string | undefined;
  /** H2C=1: HTTP/2 with prior knowledge on the plain port, beside HTTP/1.1. */
  h2c?: boolean | undefined;
  /**
   * PROXY_PROTOCOL=1: connections from TRUSTED_PROXIES must start with a PROXY protocol v1/v2
   * header, whose source address becomes the client's; a header from anyone else is refused.
   */
  proxyProtocol?: boolean | undefined;
}

const YES = ['1', 'true', 'yes', 'on'];

function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  return YES.includes((env[name] ?? '').trim().toLowerCase());
}

/** Read and check the edge variables; throws naming the bad one (the process refuses to start). */
export function readEdgeSettings(env: NodeJS.ProcessEnv = process.env): EdgeSettings {
  const raw = env.TLS_PORT;
  let tlsPort: number | undefined;
  if (raw !== undefined && raw.trim() !== '') {
    tlsPort = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || tlsPort > 65535) throw new Error(`TLS_PORT must be a port number (0-65535), got "${raw}"`);
  }
  const tlsCertFile = env.TLS_CERT_FILE || undefined;
  const tlsKeyFile = env.TLS_KEY_FILE || undefined;
  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined)) throw new Error('TLS_CERT_FILE and TLS_KEY_FILE go together: set both or neither');
  if (tlsCertFile && tlsPort === undefined) throw new Error('TLS_CERT_FILE is set but TLS_PORT is not: set TLS_PORT to open the TLS listener');
  const tlsClientCaFile = env.TLS_CLIENT_CA_FILE || undefined;
  if (tlsClientCaFile && tlsPort === undefined) throw new Error('TLS_CLIENT_CA_FILE is set but TLS_PORT is not: client certificates are asked for on the TLS listener');
  return { tlsPort, tlsHost: env.TLS_HOST || undefined, tlsCertFile, tlsKeyFile, tlsClientCaFile, h2c: flag(env, 'H2C'), proxyProtocol: flag(env, 'PROXY_PROTOCOL') };
}
