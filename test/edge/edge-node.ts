import type { EdgeSettings } from '../../gateway/src/node/edge-settings.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

export interface EdgeNode extends TestGateway {
  /** https://127.0.0.1:port when TLS is on. */
  tlsUrl: string | undefined;
  port: number;
  tlsPort: number | undefined;
}

/** A real gateway node with the edge listeners (TLS, h2c, PROXY protocol) on 127.0.0.1. */
export async function startEdgeNode(config: unknown, edge: EdgeSettings, options: { storePath?: string; trustedProxies?: string[] } = {}): Promise<EdgeNode> {
  // A default certificate alone turns TLS on, on a port the OS picks.
  const gateway = await startGateway(config, { ...options, pollMs: 100, edge: { tlsPort: edge.tlsPort ?? (edge.defaultCertificate ? 0 : undefined), ...edge } });
  const tlsUrl = gateway.node.tlsUrl;
  return {
    ...gateway,
    tlsUrl,
    port: gateway.node.address.port,
    tlsPort: tlsUrl ? Number(new URL(tlsUrl).port) : undefined,
  };
}
