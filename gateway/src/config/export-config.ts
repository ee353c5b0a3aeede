import type { GatewayConfig } from '../../../spec/config.js';
import type { ConfigState } from '../store/port.js';

/**
 * The configuration as `export` and `GET /config` give it: no secrets, no store bookkeeping
 * beyond ids and versions. JWT HMAC secrets and certificate private keys are dropped; on import a
 * credential without its secret keeps the one already stored for the same consumer and issuer,
 * and a certificate without its key keeps the stored certificate's key.
 */
export function exportConfig(state: ConfigState): GatewayConfig {
  return {
    upstreams: state.upstreams.map((u) => ({ ...u })),
    routes: state.routes.map((r) => ({ ...r })),
    consumers: state.consumers.map((c) => ({
      ...c,
      ...(c.jwt ? { jwt: c.jwt.map(({ secret: _secret, ...cred }) => cred) } : {}),
    })),
    certificates: state.certificates.map(({ key: _key, ...cert }) => cert),
    streams: state.streams.map((s) => ({ ...s })),
  };
}
