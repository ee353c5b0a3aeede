import type { FastifyBaseLogger } from 'fastify';
import type { GatewayNode } from './gateway-node.js';

/** Wire active and passive health checking to the node's pools. */
export function attachHealth(_node: GatewayNode, _logger: FastifyBaseLogger): { close(): void } {
  return { close() {} };
}
