import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactUrl, redactUrls } from '../../gateway/src/redact-url.js';

test('a MongoDB password is masked, the user, hosts and database kept', () => {
  assert.equal(redactUrl('mongodb://user:s3cret@db.example:27017/switchboard'), 'mongodb://user:***@db.example:27017/switchboard');
  assert.equal(redactUrl('mongodb+srv://ops:s3cret@cluster0.example.net/sb?retryWrites=true'), 'mongodb+srv://ops:***@cluster0.example.net/sb?retryWrites=true');
  assert.equal(redactUrl('mongodb://u:pw@h1:27017,h2:27017,h3:27017/sb?replicaSet=rs0'), 'mongodb://u:***@h1:27017,h2:27017,h3:27017/sb?replicaSet=rs0');
});

test('a password containing "@" or ":" is masked whole', () => {
  assert.equal(redactUrl('mongodb://user:p@ss:w@rd@db/sb'), 'mongodb://user:***@db/sb');
  assert.equal(redactUrl('mongodb://user:p%40ss@db/sb'), 'mongodb://user:***@db/sb');
});

test('Redis URLs: an empty user, the default user, TLS, or a bare token as userinfo', () => {
  assert.equal(redactUrl('redis://:hunter2@127.0.0.1:6379/0'), 'redis://:***@127.0.0.1:6379/0');
  assert.equal(redactUrl('rediss://default:hunter2@cache.example:6380'), 'rediss://default:***@cache.example:6380');
  assert.equal(redactUrl('redis://hunter2@cache.example'), 'redis://***@cache.example');
});

test('secrets in query parameters are masked too', () => {
  assert.equal(
    redactUrl('mongodb://db/sb?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:abc&tlsCertificateKeyFilePassword=pw&appName=sb'),
    'mongodb://db/sb?authMechanism=MONGODB-AWS&authMechanismProperties=***&tlsCertificateKeyFilePassword=***&appName=sb',
  );
  assert.equal(redactUrl('redis://cache/0?password=pw'), 'redis://cache/0?password=***');
});

test('URLs without credentials are unchanged', () => {
  for (const url of ['file:./data/switchboard.json', 'file:/var/lib/sb.json', 'mongodb://db.example:27017/sb', 'redis://127.0.0.1:6379', 'http://127.0.0.1:8080/v1/x?model=a'])
    assert.equal(redactUrl(url), url);
});

test('URLs inside a longer text (an error, a stack) are masked where they stand', () => {
  const text = 'MongoServerSelectionError: connect ECONNREFUSED (mongodb://admin:topsecret@10.0.0.5:27017/sb) while "redis://:pw2@r:6379"';
  const masked = redactUrls(text);
  assert.ok(!masked.includes('topsecret') && !masked.includes('pw2'), masked);
  assert.match(masked, /mongodb:\/\/admin:\*\*\*@10\.0\.0\.5:27017\/sb/);
  assert.equal(redactUrls('no url here: user@example.com'), 'no url here: user@example.com');
});

test('log lines mask credentials in messages and in logged errors', async () => {
  const { createLogger } = await import('../../gateway/src/logger.js');
  const lines: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
  logger.error({ err: new Error('cannot reach mongodb://sb:err-pw-1@db:27017/sb') }, 'store mongodb://sb:msg-pw-2@db/sb unreachable');
  logger.warn({ err: 'redis://:str-pw-3@cache:6379 refused' }, 'Redis down');
  logger.info('plain line');
  const text = lines.join('');
  for (const secret of ['err-pw-1', 'msg-pw-2', 'str-pw-3']) assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
  assert.match(text, /mongodb:\/\/sb:\*\*\*@db\/sb unreachable/);
  assert.match(text, /plain line/);
});
