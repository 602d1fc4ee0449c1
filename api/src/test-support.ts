// For the API's integration tests: an API server in-process on the test bed, and tokens for it.
import crypto from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { SignJWT } from 'jose';
import type { Role } from './auth/caller.ts';
import { parseApiConfig, type ApiConfig } from './config.ts';
import { makeLogger } from '../../packages/platform/src/logger.ts';
import { startApiServer, type ApiServer } from './server.ts';
import { installCrdsForUse } from '../../test/bed/admission-probe.ts';
import { bedSetting, kubeConfig } from '../../test/support/cluster.ts';

export const testIssuer = 'https://issuer.test';
export const testAudience = 'claude-operator-api';
const secret = crypto.randomBytes(32).toString('hex');

/** The API with the given settings; as the bed's admin unless another kubeconfig (a ServiceAccount's) is given. */
export async function startTestApi(env: Record<string, string> = {}, options: { kubeConfig?: KubeConfig } = {}): Promise<{ api: ApiServer; config: ApiConfig }> {
  await installCrdsForUse(kubeConfig());
  const config = parseApiConfig({
    PORT: '0', HOST: '127.0.0.1', DATABASE_URL: bedSetting('DATABASE_URL'), REDIS_URL: bedSetting('REDIS_URL'),
    JWT_HS256_SECRET: secret, JWT_ISSUER: testIssuer, JWT_AUDIENCE: testAudience, ...env,
  });
  const api = await startApiServer({ config, log: makeLogger('api-test', process.env.LOG_LEVEL ?? 'silent'), kubeConfig: options.kubeConfig ?? kubeConfig() });
  return { api, config };
}

export function token(claims: { sub?: string; tenant?: string; namespaces?: string[]; role?: Role | string }, options: { key?: string; exp?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ tenant: 'tenant', role: 'submitter', ...claims })
    .setProtectedHeader({ alg: 'HS256' }).setIssuer(testIssuer).setAudience(testAudience)
    .setSubject(claims.sub ?? `user-${crypto.randomBytes(4).toString('hex')}`)
    .setIssuedAt(now).setExpirationTime(options.exp ?? now + 600)
    .sign(new TextEncoder().encode(options.key ?? secret));
}

export interface CallOptions {
  token?: string;
  body?: unknown;
  /** A body sent as it is. */
  raw?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface CallAnswer {
  status: number;
  headers: Headers;
  json: Record<string, unknown> & { issues?: Array<{ path: string }> };
  text: string;
}

/** One HTTP call to the API as a client makes it; the body parsed as JSON when it is JSON. */
export async function callApi(baseUrl: string, method: string, path: string, options: CallOptions = {}): Promise<CallAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined = options.raw;
  if (options.body !== undefined) { body = JSON.stringify(options.body); headers['content-type'] ??= 'application/json'; }
  const response = await fetch(`${baseUrl}${path}`, { method, headers, ...(body !== undefined ? { body } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  const text = await response.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: response.status, headers: response.headers, json: json as CallAnswer['json'], text };
}
