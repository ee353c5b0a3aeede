import { Ajv, type Options as AjvOptions } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchema } from 'fastify';
import type { ConfigState } from '../../gateway/src/store/port.js';
import type { RouteStage } from '../../gateway/src/generation/route-stage.js';
import { routePlugin } from '../stage-plugin.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/**
 * The body that goes upstream is the raw bytes, not Fastify's parsed copy, so body validation
 * must judge exactly what the worker will get: no type coercion ("5" is not an integer), no
 * defaults, no silent removal of extra fields. Querystring and header values are always strings
 * on the wire, so those keep Fastify's coercion. Every failing field is reported (allErrors).
 */
const BODY_OPTIONS: AjvOptions = { allErrors: true, coerceTypes: false, useDefaults: false, removeAdditional: false, strict: false };
const PARAM_OPTIONS: AjvOptions = { allErrors: true, coerceTypes: 'array', useDefaults: true, removeAdditional: false, strict: false };

interface Validators {
  body: Ajv;
  params: Ajv;
}

/** One pair of ajv instances per revision: ajv caches every schema it compiled, so a node-wide one would grow with each reload. */
const perGeneration = new WeakMap<ConfigState, Validators>();

function validatorsFor(state: ConfigState): Validators {
  let v = perGeneration.get(state);
  if (!v) {
    v = { body: addFormats(new Ajv(BODY_OPTIONS)), params: addFormats(new Ajv(PARAM_OPTIONS)) };
    perGeneration.set(state, v);
  }
  return v;
}

const validationPlugin = routePlugin<{ state: ConfigState }>('validation', async (scope, { state }) => {
  const v = validatorsFor(state);
  scope.setValidatorCompiler(({ schema, httpPart }: { schema: FastifySchema; httpPart?: string }) =>
    (httpPart === 'body' ? v.body : v.params).compile(schema as object),
  );
});

/**
 * The route's `schema` is validated by Fastify itself (its validation phase, after the body is
 * read); this stage only chooses how: strict for bodies, coercing for query and headers.
 */
export const validationStage: RouteStage = {
  name: 'validation',
  applies: (route) => route.schema !== undefined,
  async register(scope, _route, ctx) {
    await validationPlugin(scope, { state: ctx.state });
  },
};
