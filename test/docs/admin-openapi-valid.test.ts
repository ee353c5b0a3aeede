import assert from 'node:assert/strict';
import { test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import { startHarness } from '../admin/admin-harness.js';

test('the admin OpenAPI document passes swagger-parser validation as OpenAPI 3.1', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const answer = await h.api('GET', '/api/v1/openapi.json');
  assert.equal(answer.status, 200);
  assert.match(answer.body.openapi, /^3\.1\./);
  // validate() dereferences in place: hand it a copy. It throws, naming the first failing part.
  await SwaggerParser.validate(structuredClone(answer.body));
});

test('the admin API base URL the banner prints answers with where to begin', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const base = await h.api('GET', '/api/v1');
  assert.equal(base.status, 200);
  assert.equal(base.body.openapi, '/api/v1/openapi.json');
  const doc = await h.api('GET', base.body.openapi);
  assert.equal(doc.status, 200);
  const ui = await fetch(`${h.admin.url}${base.body.docs}/`);
  assert.equal(ui.status, 200);
  await ui.text();
});
