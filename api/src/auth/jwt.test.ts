import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import { AuthenticationError } from './caller.ts';
import { JwtAuthenticator, callerOf } from './jwt.ts';

const secret = 'a-test-secret-of-at-least-32-bytes!!';
const issuer = 'https://issuer.test';
const audience = 'claude-operator';
const now = Math.floor(Date.now() / 1000);
const goodClaims = { sub: 'alice', tenant: 'acme', namespaces: ['team-a', 'team-b'], role: 'submitter' };

function hs256(claims: JWTPayload, { key = secret, iss = issuer, aud = audience, exp = now + 300, nbf }: {
  key?: string; iss?: string; aud?: string; exp?: number; nbf?: number;
} = {}): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuer(iss).setAudience(aud).setIssuedAt(now).setExpirationTime(exp);
  if (nbf !== undefined) jwt = jwt.setNotBefore(nbf);
  return jwt.sign(new TextEncoder().encode(key));
}

const hsAuth = new JwtAuthenticator({ hs256Secret: secret, issuer, audience, clockToleranceSeconds: 0 });

describe('HS256', () => {
  test('a good token gives its Caller', async () => {
    await expect(hsAuth.authenticate(await hs256(goodClaims))).resolves.toEqual(
      { subject: 'alice', tenant: 'acme', namespaces: ['team-a', 'team-b'], role: 'submitter' });
  });

  const rejected: Array<[string, () => Promise<string>]> = [
    ['forged signature', async () => { const [h, p] = (await hs256(goodClaims)).split('.'); return `${h}.${p}.${'A'.repeat(43)}`; }],
    ['tampered payload', async () => {
      const [h, , s] = (await hs256(goodClaims)).split('.');
      return `${h}.${Buffer.from(JSON.stringify({ ...goodClaims, role: 'admin', iss: issuer, aud: audience, exp: now + 300 })).toString('base64url')}.${s}`;
    }],
    ['expired', () => hs256(goodClaims, { exp: now - 60 })],
    ['not yet valid', () => hs256(goodClaims, { nbf: now + 600 })],
    ['wrong audience', () => hs256(goodClaims, { aud: 'someone-else' })],
    ['wrong issuer', () => hs256(goodClaims, { iss: 'https://evil.test' })],
    ['alg none', async () => new UnsecuredJWT(goodClaims).setIssuer(issuer).setAudience(audience).setExpirationTime(now + 300).encode()],
    ['wrong key', () => hs256(goodClaims, { key: 'another-secret-of-at-least-32-bytes!' })],
    ['missing role', () => hs256({ ...goodClaims, role: undefined })],
    ['unknown role', () => hs256({ ...goodClaims, role: 'root' })],
    ['missing tenant', () => hs256({ ...goodClaims, tenant: undefined })],
    ['missing namespaces', () => hs256({ ...goodClaims, namespaces: undefined })],
    ['bad namespace name', () => hs256({ ...goodClaims, namespaces: ['Team_A'] })],
    ['missing subject', () => hs256({ ...goodClaims, sub: undefined })],
    ['no exp', () => new SignJWT(goodClaims).setProtectedHeader({ alg: 'HS256' }).setIssuer(issuer).setAudience(audience)
      .sign(new TextEncoder().encode(secret))],
    ['not a JWT', async () => 'hello'],
    ['empty', async () => ''],
    ['HS512 with the right secret', () => new SignJWT(goodClaims).setProtectedHeader({ alg: 'HS512' }).setIssuer(issuer)
      .setAudience(audience).setExpirationTime(now + 300).sign(new TextEncoder().encode(secret))],
  ];
  test.each(rejected)('rejects: %s', async (_what, make) => {
    await expect(hsAuth.authenticate(await make())).rejects.toBeInstanceOf(AuthenticationError);
  });
});

describe('JWKS (RS256 and ES256)', () => {
  let server: http.Server;
  let jwksUrl: string;
  const keys: Record<string, CryptoKey> = {};

  beforeAll(async () => {
    const rsa = await generateKeyPair('RS256');
    const ec = await generateKeyPair('ES256');
    const stranger = await generateKeyPair('RS256');
    keys.rsa = rsa.privateKey;
    keys.ec = ec.privateKey;
    keys.stranger = stranger.privateKey;
    const jwks = { keys: [
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ec.publicKey)), kid: 'ec', alg: 'ES256', use: 'sig' },
    ] };
    server = http.createServer((_req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(jwks)); });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function sign(alg: string, kid: string, key: CryptoKey, claims: JWTPayload = goodClaims) {
    return new SignJWT(claims).setProtectedHeader({ alg, kid }).setIssuer(issuer).setAudience(audience).setExpirationTime(now + 300).sign(key);
  }

  test('RS256 and ES256 tokens from the JWKS are accepted', async () => {
    const auth = new JwtAuthenticator({ jwksUrl, issuer, audience });
    await expect(auth.authenticate(await sign('RS256', 'rsa', keys.rsa!))).resolves.toMatchObject({ subject: 'alice' });
    await expect(auth.authenticate(await sign('ES256', 'ec', keys.ec!))).resolves.toMatchObject({ tenant: 'acme' });
  });

  test('a key not in the JWKS, a forged kid, an HS256 token and alg none are rejected', async () => {
    const auth = new JwtAuthenticator({ jwksUrl, issuer, audience });
    const tokens = [
      await sign('RS256', 'stranger', keys.stranger!),
      await sign('RS256', 'rsa', keys.stranger!),
      await hs256(goodClaims),
      new UnsecuredJWT(goodClaims).setIssuer(issuer).setAudience(audience).setExpirationTime(now + 300).encode(),
    ];
    for (const token of tokens) await expect(auth.authenticate(token)).rejects.toBeInstanceOf(AuthenticationError);
  });
});

describe('claims to a Caller', () => {
  test('namespaces may be a space-separated string; duplicates go', () => {
    expect(callerOf({ ...goodClaims, namespaces: 'a b a' }).namespaces).toEqual(['a', 'b']);
  });
  test('custom claim names', () => {
    expect(callerOf({ sub: 's', org: 'o', ns: ['x'], r: 'admin' }, { tenant: 'org', namespaces: 'ns', role: 'r' }))
      .toEqual({ subject: 's', tenant: 'o', namespaces: ['x'], role: 'admin' });
  });
});
