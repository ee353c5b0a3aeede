import { Type, type Static } from '@sinclair/typebox';
import { Name, StoredFields } from './common.js';

/**
 * A TCP (L4) listener: every connection it accepts is joined to one target of `upstream`,
 * picked with the pool's algorithm, byte for byte, with no HTTP in between.
 */
export const Stream = Type.Object(
  {
    ...StoredFields,
    name: Name,
    port: Type.Integer({ minimum: 1, maximum: 65535, description: 'TCP port the stream listens on.' }),
    host: Type.Optional(Type.String({ minLength: 1, description: 'Address to bind (default: HOST).' })),
    upstream: Name,
    idleTimeoutMs: Type.Integer({ minimum: 1, default: 600000, description: 'Close a connection idle (no byte either way) this long.' }),
    proxyProtocol: Type.Boolean({ default: false, description: 'Send a PROXY protocol v2 header to the target first.' }),
    enabled: Type.Boolean({ default: true }),
  },
  { additionalProperties: false },
);
export type Stream = Static<typeof Stream>;
