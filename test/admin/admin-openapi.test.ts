import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { startHarness } from './admin-harness.js';

/**
 * The structural core of the OpenAPI 3.1 schema (spec.openapis.org/oas/3.1/schema): enough to
 * catch a wrong version, a path that does not start with "/", an operation without responses,
 * a response without description, a parameter without name/in, or schemas that are not objects
 * or booleans. Written here because the tests must not fetch anything.
 */
const OPENAPI_31 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['openapi', 'info'],
  anyOf: [{ required: ['paths'] }, { required: ['components'] }, { required: ['webhooks'] }],
  properties: {
    openapi: { type: 'string', pattern: '^3\\.1\\.\\d+(-.+)?$' },
    info: { type: 'object', required: ['title', 'version'], properties: { title: { type: 'string' }, version: { type: 'string' } } },
    servers: { type: 'array', items: { type: 'object', required: ['url'] } },
    paths: { type: 'object', propertyNames: { pattern: '^/' }, additionalProperties: { $ref: '#/$defs/pathItem' } },
    components: {
      type: 'object',
      properties: {
        schemas: { type: 'object', additionalProperties: { $ref: '#/$defs/schema' } },
        securitySchemes: { type: 'object', additionalProperties: { type: 'object', required: ['type'] } },
      },
    },
    security: { type: 'array', items: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } } },
  },
  patternProperties: { '^x-': true },
  additionalProperties: false,
  $defs: {
    schema: { type: ['object', 'boolean'] },
    pathItem: {
      type: 'object',
      propertyNames: { enum: ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace', 'summary', 'description', 'servers', 'parameters', '$ref'] },
      additionalProperties: { $ref: '#/$defs/operationOrOther' },
    },
    operationOrOther: {
      if: { type: 'object', required: ['responses'] },
      then: { $ref: '#/$defs/operation' },
    },
    operation: {
      type: 'object',
      required: ['responses'],
      properties: {
        tags: { type: 'array', items: { type: 'string' } },
        summary: { type: 'string' },
        parameters: { type: 'array', items: { $ref: '#/$defs/parameter' } },
        requestBody: {
          type: 'object',
          required: ['content'],
          properties: { content: { type: 'object', additionalProperties: { type: 'object', properties: { schema: { $ref: '#/$defs/schema' } } } } },
        },
        responses: {
          type: 'object',
          minProperties: 1,
          propertyNames: { pattern: '^([1-5][0-9X]{2}|default)$' },
          additionalProperties: {
            type: 'object',
            required: ['description'],
            properties: { description: { type: 'string' }, content: { type: 'object', additionalProperties: { type: 'object', properties: { schema: { $ref: '#/$defs/schema' } } } } },
          },
        },
        security: { type: 'array' },
      },
    },
    parameter: {
      type: 'object',
      required: ['name', 'in'],
      properties: { name: { type: 'string' }, in: { enum: ['query', 'header', 'path', 'cookie'] }, schema: { $ref: '#/$defs/schema' } },
      if: { properties: { in: { const: 'path' } } },
      then: { required: ['required'], properties: { required: { const: true } } },
    },
  },
};

test('the admin OpenAPI document validates as OpenAPI 3.1 and lists the contract endpoints', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const answer = await h.api('GET', '/api/v1/openapi.json');
  assert.equal(answer.status, 200, 'served without a token');
  const doc = answer.body as any;
  const validate = new Ajv2020({ strict: false, allErrors: true }).compile(OPENAPI_31);
  assert.ok(validate(structuredClone(doc)), JSON.stringify(validate.errors, null, 2));

  for (const [path, methods] of Object.entries({
    '/auth/login': ['post'],
    '/upstreams': ['get', 'post'],
    '/upstreams/{id}': ['get', 'put', 'delete'],
    '/routes': ['get', 'post'],
    '/routes/{id}': ['get', 'put', 'delete'],
    '/consumers': ['get', 'post'],
    '/consumers/{id}': ['get', 'put', 'delete'],
    '/users': ['get', 'post'],
    '/users/{id}': ['get', 'put', 'delete'],
    '/routes/validate': ['post'],
    '/upstreams/validate': ['post'],
    '/upstreams/{id}/health': ['get'],
    '/config': ['get', 'put'],
    '/audit': ['get'],
    '/revisions': ['get'],
    '/revisions/{n}/restore': ['post'],
  })) {
    for (const method of methods) assert.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} is documented`);
  }
  // Request bodies are the spec/ schemas.
  const routeBody = doc.paths['/routes'].post.requestBody.content['application/json'].schema;
  assert.ok(routeBody.properties.upstream && routeBody.properties.paths, 'route body schema comes from spec/');
  assert.deepEqual(doc.paths['/auth/login'].post.security, [], 'login needs no token');
  assert.ok(doc.components.securitySchemes.bearer);

  const ui = await fetch(`${h.admin.url}/api/docs/`);
  assert.equal(ui.status, 200);
  assert.match(await ui.text(), /swagger/i);
});
