import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EnvSubstitutionError, substituteEnv } from '../../gateway/src/cli/env-substitution.js';

test('${NAME} is replaced by the variable, in the text before parsing; set-but-empty is a value', () => {
  const text = 'timeoutMs: ${T}\nurl: "http://${HOST}:8000/${EMPTY}"\n';
  assert.equal(substituteEnv(text, { T: '120000', HOST: 'gpu1', EMPTY: '' }, 'f.yaml'), 'timeoutMs: 120000\nurl: "http://gpu1:8000/"\n');
});

test('$${ writes a literal ${, and a lone $ is left alone', () => {
  assert.equal(substituteEnv('price: $5, template: "$${NOT_A_VAR}"', {}, 'f.yaml'), 'price: $5, template: "${NOT_A_VAR}"');
});

test('every unset variable is named with its line, and nothing is half substituted', () => {
  const text = 'a: ${SET}\nb: ${MISSING_ONE}\nc: ${MISSING_TWO}\n';
  assert.throws(
    () => substituteEnv(text, { SET: '1' }, 'pool.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof EnvSubstitutionError);
      assert.equal(err.source, 'pool.yaml');
      assert.deepEqual(err.problems, ['line 2: environment variable MISSING_ONE is not set', 'line 3: environment variable MISSING_TWO is not set']);
      return true;
    },
  );
});

test('a malformed reference is an error, not text passed on', () => {
  assert.throws(() => substituteEnv('a: ${not-a-name}\n', {}, 'f.yaml'), /line 1: "\$\{not-a-name\}" is not a variable name/);
  assert.throws(() => substituteEnv('a: 1\nb: ${UNCLOSED\n', {}, 'f.yaml'), /line 2: "\$\{" without a closing "\}"/);
});
