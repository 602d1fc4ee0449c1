// The single-machine stack `up` runs: the test bed, plus the CRD, the operator
// (as a process, watching every namespace) and, on a machine with no model to
// reach, the scripted Messages API in the model's place.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { SignJWT } from 'jose';
import { installCrdsForUse } from './admission-probe.ts';
import { repoRoot } from './binaries.ts';
import { startBed, type Bed } from './bed.ts';
import { freePort } from './ports.ts';
import { startSupervised, waitFor, type Supervised } from './process.ts';

export interface Stack {
  settings: Bed['settings'] & {
    ANTHROPIC_BASE_URL: string; OPERATOR_METRICS_URL: string; API_URL: string; API_TOKEN: string;
    /** The API's HS256 key, issuer and audience: mint tokens for other tenants and roles with them. */
    API_JWT_SECRET: string; API_JWT_ISSUER: string; API_JWT_AUDIENCE: string;
  };
  /** The control plane's kube-apiserver stopped and started again, etcd kept (chaos fault 5). */
  restartApiserver(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

const node = path.join(repoRoot, 'node_modules/.bin/node');

async function startScriptedApi(logFile: string): Promise<{ url: string; process: Supervised }> {
  const port = await freePort();
  const process = startSupervised({ name: 'scripted-api', command: node,
    args: [path.join(repoRoot, 'test/scripted-api/main.ts'), '--port', String(port)], logFile });
  const url = `http://127.0.0.1:${port}`;
  await waitFor('the scripted API', async () => (await fetch(`${url}/health`).catch(() => undefined)) !== undefined, { timeoutMs: 20_000 });
  return { url, process };
}

const apiIssuer = 'claude-operator-up';
const apiAudience = 'claude-operator-api';

/** The API server with a secret of its own, and an admin token (every namespace) for the settings file. */
async function startApi(settings: Bed['settings'], logDir: string): Promise<{ url: string; token: string; secret: string; process: Supervised }> {
  const secret = crypto.randomBytes(32).toString('hex');
  const port = await freePort();
  const process = startSupervised({
    name: 'api', command: node, args: [path.join(repoRoot, 'api/src/main.ts')], logFile: path.join(logDir, 'api.log'),
    env: {
      PATH: globalThis.process.env.PATH ?? '/usr/bin:/bin', KUBECONFIG: settings.KUBECONFIG, DATABASE_URL: settings.DATABASE_URL,
      REDIS_URL: settings.REDIS_URL, PORT: String(port), HOST: '127.0.0.1',
      JWT_HS256_SECRET: secret, JWT_ISSUER: apiIssuer, JWT_AUDIENCE: apiAudience,
    },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor('the API ready', async () => (await fetch(`${url}/readyz`)).ok, { timeoutMs: 60_000 })
    .catch(async (error: Error) => { throw new Error(`${error.message}\n${process.logTail(30)}`); });
  const token = await new SignJWT({ tenant: 'admin', namespaces: ['*'], role: 'admin' })
    .setProtectedHeader({ alg: 'HS256' }).setIssuer(apiIssuer).setAudience(apiAudience).setSubject('up-admin')
    .setIssuedAt().setExpirationTime('24h').sign(new TextEncoder().encode(secret));
  return { url, token, secret, process };
}

/** ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY from the environment reach a real
 * model or gateway; without ANTHROPIC_BASE_URL the scripted API stands in. */
export async function startStack(): Promise<Stack> {
  const bed = await startBed();
  const stops: Array<() => Promise<void>> = [() => bed.stop()];
  const stop = async () => {
    for (const stopOne of stops.reverse()) await stopOne().catch(() => undefined);
  };
  try {
    const logDir = path.join(bed.settings.BED_DIR, 'logs');
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(bed.settings.KUBECONFIG);
    await installCrdsForUse(kubeConfig);

    let baseUrl = process.env.ANTHROPIC_BASE_URL;
    if (!baseUrl) {
      const scripted = await startScriptedApi(path.join(logDir, 'scripted-api.log'));
      stops.push(() => scripted.process.stop());
      baseUrl = scripted.url;
    }
    // The key tasks in `default` use unless they name another Secret.
    await kubeConfig.makeApiClient(CoreV1Api).createNamespacedSecret({ namespace: 'default', body: {
      metadata: { name: 'anthropic-api-key' }, stringData: { 'api-key': process.env.ANTHROPIC_API_KEY ?? 'scripted-api-key' } } });

    const metricsPort = await freePort();
    const operator = startSupervised({
      name: 'operator', command: node, args: [path.join(repoRoot, 'operator/src/main.ts')], logFile: path.join(logDir, 'operator.log'),
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        KUBECONFIG: bed.settings.KUBECONFIG,
        DATABASE_URL: bed.settings.DATABASE_URL,
        REDIS_URL: bed.settings.REDIS_URL,
        ANTHROPIC_BASE_URL: baseUrl,
        RUNNER_IMAGE: 'ghcr.io/claude-operator/runner:dev',
        RUNNER_REDIS_ACL_SECRET: crypto.randomBytes(32).toString('hex'),
        METRICS_PORT: String(metricsPort),
        ...(process.env.HTTPS_PROXY ? { HTTPS_PROXY: process.env.HTTPS_PROXY } : {}),
        ...(process.env.NO_PROXY ? { NO_PROXY: process.env.NO_PROXY } : {}),
      },
    });
    stops.push(() => operator.stop(10_000));
    const metricsUrl = `http://127.0.0.1:${metricsPort}`;
    await waitFor('the operator ready', async () => (await fetch(`${metricsUrl}/readyz`)).ok, { timeoutMs: 60_000 })
      .catch(async (error: Error) => { throw new Error(`${error.message}\n${await fs.readFile(path.join(logDir, 'operator.log'), 'utf8').catch(() => '')}`); });
    const api = await startApi(bed.settings, logDir);
    stops.push(() => api.process.stop(10_000));
    return { settings: { ...bed.settings, ANTHROPIC_BASE_URL: baseUrl, OPERATOR_METRICS_URL: metricsUrl, API_URL: api.url, API_TOKEN: api.token,
      API_JWT_SECRET: api.secret, API_JWT_ISSUER: apiIssuer, API_JWT_AUDIENCE: apiAudience },
    restartApiserver: (downMs) => bed.controlPlane.restartApiserver(downMs), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
