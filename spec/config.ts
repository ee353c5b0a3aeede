import { Type, type Static } from '@sinclair/typebox';
import { Certificate } from './certificate.js';
import { Consumer } from './consumer.js';
import { Route } from './route.js';
import { Stream } from './stream.js';
import { Upstream } from './upstream.js';

/** The shape of `switchboard import/export` and `PUT /api/v1/config`. */
export const GatewayConfig = Type.Object(
  {
    upstreams: Type.Array(Upstream, { default: [] }),
    routes: Type.Array(Route, { default: [] }),
    consumers: Type.Array(Consumer, { default: [] }),
    // Optional in the type (files written before they existed still are configurations); a
    // validated configuration always has them, as the default fills them in.
    certificates: Type.Optional(Type.Array(Certificate, { default: [] })),
    streams: Type.Optional(Type.Array(Stream, { default: [] })),
  },
  { additionalProperties: false },
);
export type GatewayConfig = Static<typeof GatewayConfig>;

/** The collections a configuration revision holds, each a list of named items. */
export const CONFIG_KINDS = ['upstreams', 'routes', 'consumers', 'certificates', 'streams'] as const;
export type ConfigKind = (typeof CONFIG_KINDS)[number];
