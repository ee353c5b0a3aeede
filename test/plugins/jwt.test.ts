import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT, type JWK } from 'jose';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, caughtUp } from './fixtures.js';

// Tokens are made with jose; the gateway verifies with @fastify/jwt (fast-jwt). Two libraries,
// so a shared bug cannot make a bad token look good.

const HS_ISSUER = 'acme-signer';
const RS_ISSUER = 'https://idp.acme.example';
const JWKS_ISSUER = 'https://login.example';
const HS_SECRET = 'a-thirty-two-byte-long-hs-secret!';
const now = () => Math.floor(Date.now() / 1000);

let upstream: EchoUpstream;
let gw: TestGateway;
let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
let otherRsa: Awaited<ReturnType<typeof generateKeyPair>>;
let rsaPem: string;
let jwksServer: Server;
let jwks: { keys: JWK[] };
let jwksFetches = 0;
let idpKey1: Awaited<ReturnType<typeof generateKeyPair>>;
let idpKey2: Awaited<ReturnType<typeof generateKeyPair>>;

async function hs(claims: Record<string, unknown>, secret: string | Uint8Array = HS_SECRET, alg = 'HS256'): Promise<string> {
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  return new SignJWT(claims).setProtectedHeader({ alg }).sign(key);
}

async function rs(claims: Record<string, unknown>, key = rsa.privateKey, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', ...header }).sign(key);
}

const valid = (iss: string, extra: Record<string, unknown> = {}) => ({ iss, sub: 'svc', exp: now() + 300, ...extra });

function bearer(token: string) {
  return { headers: { authorization: `Bearer ${token}` } };
}

before(async () => {
  upstream = await startEchoUpstream('echo');
  rsa = await generateKeyPair('RS256', { extractable: true });
  otherRsa = await generateKeyPair('RS256', { extractable: true });
  idpKey1 = await generateKeyPair('ES256', { extractable: true });
  idpKey2 = await generateKeyPair('ES256', { extractable: true });
  rsaPem = await exportSPKI(rsa.publicKey);
  jwks = { keys: [{ ...(await exportJWK(idpKey1.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
  jwksServer = createServer((req, res) => {
    jwksFetches++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/keys/jwks.json`;
  gw = await startGateway({
    upstreams: [{ name: 'echo', targets: [{ url: upstream.url }] }],
    routes: [
      { name: 'jwt', methods: ['GET'], paths: ['/jwt'], upstream: 'echo', auth: 'jwt' },
      { name: 'aud', methods: ['GET'], paths: ['/aud'], upstream: 'echo', auth: 'jwt', jwtAudience: 'switchboard' },
      { name: 'aud2', methods: ['GET'], paths: ['/aud2'], upstream: 'echo', auth: 'jwt', jwtAudience: 'billing' },
      { name: 'either', methods: ['GET'], paths: ['/either'], upstream: 'echo', auth: 'api-key-or-jwt' },
    ],
    consumers: [
      {
        name: 'acme',
        jwt: [
          { issuer: HS_ISSUER, algorithm: 'HS256', secret: HS_SECRET },
          { issuer: RS_ISSUER, algorithm: 'RS256', publicKey: rsaPem },
        ],
      },
      { name: 'initech', jwt: [{ issuer: JWKS_ISSUER, jwksUrl }] },
    ],
  });
});
after(async () => {
  await gw.close();
  await upstream.close();
  await new Promise<void>((resolve) => jwksServer.close(() => resolve()));
});

describe('JWT', () => {
  test('HS256 and RS256 tokens from a consumer\'s issuers are accepted; the token does not go upstream', async () => {
    for (const token of [await hs(valid(HS_ISSUER)), await rs(valid(RS_ISSUER))]) {
      const answer = await call(`${gw.url}/jwt`, bearer(token));
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.body.headers['x-consumer-name'], 'acme');
      assert.equal(answer.body.headers.authorization, undefined);
    }
  });

  test('bad tokens all get 401: expired, no exp, wrong key, alg none, RS→HS swap, unknown issuer, tampered, garbage, not yet valid', async () => {
    const good = await hs(valid(HS_ISSUER));
    const [h, p, s] = good.split('.');
    const tamperedPayload = Buffer.from(JSON.stringify({ ...valid(HS_ISSUER), sub: 'admin' })).toString('base64url');
    const cases: Record<string, string> = {
      expired: await hs({ iss: HS_ISSUER, exp: now() - 120 }),
      'expired RS256': await rs({ iss: RS_ISSUER, exp: now() - 120 }),
      'missing exp': await hs({ iss: HS_ISSUER }),
      'missing exp RS256': await rs({ iss: RS_ISSUER }),
      'wrong HMAC secret': await hs(valid(HS_ISSUER), 'another-thirty-two-byte-secret!!'),
      'wrong RSA key': await rs(valid(RS_ISSUER), otherRsa.privateKey),
      'alg none': new UnsecuredJWT(valid(HS_ISSUER)).encode(),
      'alg none, RS issuer': new UnsecuredJWT(valid(RS_ISSUER)).encode(),
      'RS→HS swap (public key as HMAC secret)': await hs(valid(RS_ISSUER), new TextEncoder().encode(rsaPem)),
      'HS384 where HS256 is pinned': await hs(valid(HS_ISSUER), HS_SECRET, 'HS384'),
      'unknown issuer': await hs(valid('someone-else')),
      'no issuer': await hs({ exp: now() + 300 }),
      'tampered payload': `${h}.${tamperedPayload}.${s}`,
      'stripped signature': `${h}.${p}.`,
      garbage: 'not-a-jwt',
      'three garbage parts': 'eyJhbGciOi.bad.token',
      'not yet valid (nbf)': await hs(valid(HS_ISSUER, { nbf: now() + 600 })),
    };
    for (const [what, token] of Object.entries(cases)) {
      const answer = await call(`${gw.url}/jwt`, bearer(token));
      assert.equal(answer.status, 401, `${what}: ${answer.status} ${answer.text}`);
      assert.equal(answer.body.type, 'urn:switchboard:problem:unauthorized', what);
    }
    assert.equal((await call(`${gw.url}/jwt`)).status, 401, 'no token');
    assert.equal((await call(`${gw.url}/jwt`, { headers: { authorization: `Basic ${good}` } })).status, 401, 'wrong scheme');
  });

  test('small clock skew is tolerated: a token expired 5 s ago still passes, one 2 min ago does not', async () => {
    assert.equal((await call(`${gw.url}/jwt`, bearer(await hs({ iss: HS_ISSUER, exp: now() - 5 })))).status, 200);
    assert.equal((await call(`${gw.url}/jwt`, bearer(await hs({ iss: HS_ISSUER, exp: now() - 120 })))).status, 401);
  });

  test('a route with jwtAudience wants that audience', async () => {
    assert.equal((await call(`${gw.url}/aud`, bearer(await hs(valid(HS_ISSUER))))).status, 401);
    assert.equal((await call(`${gw.url}/aud`, bearer(await hs(valid(HS_ISSUER, { aud: 'elsewhere' }))))).status, 401);
    assert.equal((await call(`${gw.url}/aud`, bearer(await hs(valid(HS_ISSUER, { aud: 'switchboard' }))))).status, 200);
    // Routes with different audiences hold different verifiers: neither accepts the other's token.
    assert.equal((await call(`${gw.url}/aud2`, bearer(await hs(valid(HS_ISSUER, { aud: 'switchboard' }))))).status, 401);
    assert.equal((await call(`${gw.url}/aud2`, bearer(await hs(valid(HS_ISSUER, { aud: 'billing' }))))).status, 200);
    assert.equal((await call(`${gw.url}/aud`, bearer(await hs(valid(HS_ISSUER, { aud: 'billing' }))))).status, 401);
  });

  test('a JWKS credential verifies by kid and refetches the set when the IdP rotates to a new kid', async () => {
    const t1 = await new SignJWT(valid(JWKS_ISSUER)).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(idpKey1.privateKey);
    const first = await call(`${gw.url}/jwt`, bearer(t1));
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.headers['x-consumer-name'], 'initech');
    const fetches = jwksFetches;
    assert.equal((await call(`${gw.url}/jwt`, bearer(t1))).status, 200);
    assert.equal(jwksFetches, fetches, 'keys are cached');

    jwks = { keys: [...jwks.keys, { ...(await exportJWK(idpKey2.publicKey)), kid: 'k2', alg: 'ES256', use: 'sig' }] };
    const t2 = await new SignJWT(valid(JWKS_ISSUER)).setProtectedHeader({ alg: 'ES256', kid: 'k2' }).sign(idpKey2.privateKey);
    assert.equal((await call(`${gw.url}/jwt`, bearer(t2))).status, 200);
    assert.ok(jwksFetches > fetches, 'unknown kid refetched the set');

    const forged = await new SignJWT(valid(JWKS_ISSUER)).setProtectedHeader({ alg: 'ES256', kid: 'k2' }).sign(idpKey1.privateKey);
    assert.equal((await call(`${gw.url}/jwt`, bearer(forged))).status, 401, 'signed by the wrong key');
    const hsForJwks = await hs(valid(JWKS_ISSUER), HS_SECRET);
    assert.equal((await call(`${gw.url}/jwt`, bearer(hsForJwks))).status, 401, 'HS never accepted for a JWKS issuer');
  });

  test('api-key-or-jwt takes either credential', async () => {
    const { key } = await issueKey(gw.store, 'acme', { actor: 'test' });
    await caughtUp(gw);
    assert.equal((await call(`${gw.url}/either`, { headers: { 'x-api-key': key } })).status, 200);
    assert.equal((await call(`${gw.url}/either`, bearer(key))).status, 200);
    assert.equal((await call(`${gw.url}/either`, bearer(await rs(valid(RS_ISSUER))))).status, 200);
    assert.equal((await call(`${gw.url}/either`, bearer('sb_live_' + 'x'.repeat(43)))).status, 401);
    assert.equal((await call(`${gw.url}/jwt`, { headers: { 'x-api-key': key } })).status, 401, 'a jwt-only route ignores API keys');
  });
});
