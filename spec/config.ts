import { Type, type Static } from '@sinclair/typebox';
import { Consumer } from './consumer.js';
import { Route } from './route.js';
import { Upstream } from './upstream.js';

/** The shape of `switchboard import/export` and `PUT /api/v1/config`. */
export const GatewayConfig = Type.Object(
  {
    upstreams: Type.Array(Upstream, { default: [] }),
    routes: Type.Array(Route, { default: [] }),
    consumers: Type.Array(Consumer, { default: [] }),
  },
  { additionalProperties: false },
);
export type GatewayConfig = Static<typeof GatewayConfig>;
