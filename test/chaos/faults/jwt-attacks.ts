// Fault 9: JWT attacks from a list, each tried over REST and at the WebSocket
// upgrade. The goal is 100% refused. A valid token is tried alongside, so a
// server that refuses everything (or a broken harness) fails too.
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { WebSocket } from 'ws';
import type { ClientSettings, Fault, FaultResult } from '../fault.ts';
import { mintToken } from '../tokens.ts';

interface Attack {
  name: string;
  /** The Authorization header value (undefined: none) and the query, e.g. a forged ticket. */
  authorization?: string;
  query?: string;
}

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** The attacks, built against the stack's issuer and audience (and, where the attack is a valid
 * signature on a bad claim set, its key: those prove the claim checks, not the signature check). */
export async function jwtAttacks(settings: ClientSettings): Promise<Attack[]> {
  const secret = new TextEncoder().encode(settings.API_JWT_SECRET);
  const now = Math.floor(Date.now() / 1000);
  const claims: JWTPayload = {
    tenant: 'attacker', namespaces: ['*'], role: 'admin', sub: 'attacker',
    iss: settings.API_JWT_ISSUER, aud: settings.API_JWT_AUDIENCE, iat: now, exp: now + 3600,
  };
  const sign = (payload: JWTPayload, header: Record<string, unknown> = {}, key: Parameters<SignJWT['sign']>[0] = secret, alg = 'HS256') =>
    new SignJWT(payload).setProtectedHeader({ alg, ...header }).sign(key);
  const without = (...names: string[]) => Object.fromEntries(Object.entries(claims).filter(([name]) => !names.includes(name)));
  const rsa = await generateKeyPair('RS256', { extractable: true });
  const ec = await generateKeyPair('ES256', { extractable: true });
  const valid = await mintToken(settings, { subject: 'attacker-victim', role: 'viewer', namespaces: ['default'] });
  const [header, , signature] = valid.split('.');
  const bearer = (token: string) => `Bearer ${token}`;

  return [
    { name: 'alg none', authorization: bearer(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`) },
    { name: 'alg None (case)', authorization: bearer(`${b64({ alg: 'None' })}.${b64(claims)}.`) },
    { name: 'alg none with a signature', authorization: bearer(`${b64({ alg: 'none' })}.${b64(claims)}.${signature}`) },
    { name: 'HS512 with the right key (algorithm not pinned)', authorization: bearer(await sign(claims, {}, secret, 'HS512')) },
    { name: 'RS256 from an attacker key', authorization: bearer(await sign(claims, {}, rsa.privateKey, 'RS256')) },
    { name: 'ES256 with the attacker key embedded (jwk header)', authorization: bearer(await sign(claims, { jwk: await exportJWK(ec.publicKey) }, ec.privateKey, 'ES256')) },
    { name: 'RS256 with jku to an attacker URL', authorization: bearer(await sign(claims, { jku: 'http://127.0.0.1:9/jwks.json', kid: 'a' }, rsa.privateKey, 'RS256')) },
    { name: 'HS256 keyed with an RSA public key (key confusion)', authorization: bearer(await sign(claims, {}, new TextEncoder().encode(JSON.stringify(await exportJWK(rsa.publicKey))))) },
    { name: 'HS256 with a wrong secret', authorization: bearer(await sign(claims, {}, randomBytes(32))) },
    { name: 'unknown kid, other secret', authorization: bearer(await sign(claims, { kid: 'unknown-kid' }, randomBytes(32))) },
    { name: 'expired', authorization: bearer(await sign({ ...claims, iat: now - 7200, exp: now - 3600 })) },
    { name: 'not yet valid (nbf)', authorization: bearer(await sign({ ...claims, nbf: now + 3600 })) },
    { name: 'wrong audience', authorization: bearer(await sign({ ...claims, aud: 'another-api' })) },
    { name: 'wrong issuer', authorization: bearer(await sign({ ...claims, iss: 'https://evil.example' })) },
    { name: 'no exp', authorization: bearer(await sign(without('exp'))) },
    { name: 'no sub', authorization: bearer(await sign(without('sub'))) },
    { name: 'no tenant', authorization: bearer(await sign(without('tenant'))) },
    { name: 'unknown role', authorization: bearer(await sign({ ...claims, role: 'root' })) },
    { name: 'tampered payload (viewer made admin, signature kept)', authorization: bearer(`${header}.${b64({ ...claims, sub: 'attacker-victim' })}.${signature}`) },
    { name: 'signature stripped', authorization: bearer(`${valid.split('.').slice(0, 2).join('.')}.`) },
    { name: 'oversized (64 KiB claim, validly signed)', authorization: bearer(await sign({ ...claims, pad: 'x'.repeat(64 * 1024) })) },
    { name: 'two segments', authorization: bearer(`${header}.${b64(claims)}`) },
    { name: 'not base64', authorization: bearer('%%%.***.$$$') },
    { name: 'empty bearer', authorization: 'Bearer ' },
    { name: 'Basic scheme', authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` },
    { name: 'no credentials' },
    { name: 'forged stream ticket', query: `ticket=${randomBytes(24).toString('base64url')}` },
  ];
}

type Outcome = { refused: boolean; status: number };

async function overRest(apiUrl: string, attack: Attack): Promise<Outcome> {
  const response = await fetch(`${apiUrl}/api/v1/namespaces/default/tasks${attack.query ? `?${attack.query}` : ''}`,
    { headers: attack.authorization === undefined ? {} : { authorization: attack.authorization } });
  await response.arrayBuffer();
  return { refused: response.status === 401 || response.status === 431, status: response.status };
}

/** The upgrade of a stream that does not exist: an authenticated caller gets 404, anyone else 401. */
function atUpgrade(apiUrl: string, attack: Attack): Promise<Outcome> {
  const url = `${apiUrl.replace(/^http/, 'ws')}/api/v1/namespaces/default/tasks/chaos-no-such-task/stream${attack.query ? `?${attack.query}` : ''}`;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers: attack.authorization === undefined ? {} : { authorization: attack.authorization } });
    socket.on('unexpected-response', (_request, response) => {
      response.resume();
      resolve({ refused: response.statusCode === 401 || response.statusCode === 431, status: response.statusCode ?? 0 });
      socket.terminate();
    });
    socket.on('open', () => { resolve({ refused: false, status: 101 }); socket.close(); });
    socket.on('error', (error) => reject(error));
  });
}

export interface AttackOutcome { attack: string; rest: Outcome; upgrade: Outcome }

export async function tryJwtAttacks(settings: ClientSettings): Promise<{ outcomes: AttackOutcome[]; control: { rest: number; upgrade: number } }> {
  const outcomes: AttackOutcome[] = [];
  for (const attack of await jwtAttacks(settings)) {
    outcomes.push({ attack: attack.name, rest: await overRest(settings.API_URL, attack), upgrade: await atUpgrade(settings.API_URL, attack) });
  }
  const control = { authorization: `Bearer ${await mintToken(settings, { subject: 'chaos-control', role: 'viewer', namespaces: ['default'] })}`, name: 'valid' };
  return { outcomes, control: { rest: (await overRest(settings.API_URL, control)).status, upgrade: (await atUpgrade(settings.API_URL, control)).status } };
}

/** Every attack over REST and at the upgrade, and one valid token as the control. */
async function jwtAttacksRow(settings: ClientSettings): Promise<FaultResult> {
  const { outcomes, control } = await tryJwtAttacks(settings);
  const accepted = outcomes.flatMap((outcome) => [
    ...(outcome.rest.refused ? [] : [`${outcome.attack} over REST (${outcome.rest.status})`]),
    ...(outcome.upgrade.refused ? [] : [`${outcome.attack} at the upgrade (${outcome.upgrade.status})`]),
  ]);
  const controlAccepted = control.rest === 200 && control.upgrade === 404;
  const tries = outcomes.length * 2;
  return {
    load: `${outcomes.length} attacks x 2 paths`,
    lost: null, duplicated: null, disagreeing: null, recoverySeconds: null,
    detail: `refused ${tries - accepted.length}/${tries}${accepted.length ? `; ACCEPTED: ${accepted.join('; ')}` : ''}; `
      + `a valid token: REST ${control.rest}, upgrade ${control.upgrade}${controlAccepted ? '' : ' (expected 200 and 404)'}`,
    passed: accepted.length === 0 && controlAccepted,
  };
}

export const jwtAttacksFault: Fault = {
  number: 9,
  name: 'JWT attacks (REST and WebSocket upgrade)',
  run: (system) => jwtAttacksRow(system.settings),
  // The same tokens, signed with the chart's key, through the API's Service.
  runOnRealNode: (system) => jwtAttacksRow(system.settings),
};
