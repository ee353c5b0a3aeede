import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toOpenApiPath, toRoutePattern } from '../../gateway/src/docs/openapi-paths.js';

test('route patterns become OpenAPI path templates the way find-my-way reads them', () => {
  assert.deepEqual(toOpenApiPath('/v1/models/:id'), { template: '/v1/models/{id}', parameters: [{ name: 'id' }] });
  assert.deepEqual(toOpenApiPath('/near/:lat-:lng/radius/:r'), { template: '/near/{lat}-{lng}/radius/{r}', parameters: [{ name: 'lat' }, { name: 'lng' }, { name: 'r' }] });
  assert.deepEqual(toOpenApiPath('/files/:name.:ext'), { template: '/files/{name}.{ext}', parameters: [{ name: 'name' }, { name: 'ext' }] });
  assert.deepEqual(toOpenApiPath('/users/:id(^\\d+)/posts'), { template: '/users/{id}/posts', parameters: [{ name: 'id', pattern: '^\\d+$' }] });
  assert.deepEqual(toOpenApiPath('/v1/*'), { template: '/v1/{path}', parameters: [{ name: 'path', wildcard: true }] });
  assert.deepEqual(toOpenApiPath('/by/:path/*'), { template: '/by/{path}/{rest}', parameters: [{ name: 'path' }, { name: 'rest', wildcard: true }] });
  assert.deepEqual(toOpenApiPath('/clock::now'), { template: '/clock:now', parameters: [] }, 'a doubled colon is a literal one');
});

test('OpenAPI templates become route patterns, and back again unchanged', () => {
  assert.equal(toRoutePattern('/v1/models/{id}'), '/v1/models/:id');
  assert.equal(toRoutePattern('/clock:now'), '/clock::now');
  for (const pattern of ['/v1/models/:id', '/near/:lat-:lng/radius/:r', '/files/:name.:ext', '/clock::now', '/plain/path']) {
    assert.equal(toRoutePattern(toOpenApiPath(pattern).template), pattern, pattern);
  }
});
