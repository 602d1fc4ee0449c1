// The operator as the e2e tests run it: its RBAC rendered from the chart by the
// real helm and applied, a token of its ServiceAccount in a kubeconfig of its
// own, and `node operator/src/main.ts` with that identity, watching one
// namespace, talking to the bed's Postgres and Redis and the scripted API.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import { repoRoot } from '../../bed/binaries.ts';
import { writeKubeconfig } from '../../bed/kubeconfig.ts';
import { freePort } from '../../bed/ports.ts';
import { startSupervised, waitFor, type Supervised } from '../../bed/process.ts';
import { bedSetting, kubeConfig, kubectl } from '../../support/cluster.ts';

const run = promisify(execFile);

export interface RunningOperator {
  process: Supervised;
  metricsUrl: string;
  logFile: string;
}

export interface OperatorUnderTest {
  /** The operator's own namespace (its ServiceAccount and leader Lease). */
  namespace: string;
  serviceAccount: string;
  release: string;
  logFile: string;
  /** The metrics server of the last start(). */
  metricsUrl: string;
  start(options?: { waitReady?: boolean; logFile?: string }): Promise<RunningOperator>;
  stop(): Promise<void>;
  /** Removes the cluster-scoped RBAC objects the chart made. */
  uninstall(): Promise<void>;
}

/** Renders the chart's RBAC (not its Deployment: the process runs here) and applies it. */
export async function installOperatorRbac(release: string, namespace: string): Promise<string> {
  const { stdout } = await run(bedSetting('HELM'), ['template', release, path.join(repoRoot, 'charts/claude-operator'),
    '--namespace', namespace, '--set', 'operator.databaseUrl=postgres://unused', '--set', 'operator.redisUrl=redis://unused',
    '--show-only', 'templates/serviceaccount.yaml', '--show-only', 'templates/clusterrole.yaml',
    '--show-only', 'templates/clusterrolebinding.yaml', '--show-only', 'templates/leader-election-role.yaml',
    '--show-only', 'templates/clusterrole-policies.yaml']);
  const file = path.join(bedSetting('BED_DIR'), `${release}-rbac.yaml`);
  await fs.writeFile(file, stdout);
  const applied = await kubectl('apply', '-f', file);
  if (applied.code !== 0) throw new Error(`applying the chart's RBAC failed: ${applied.stderr}`);
  return stdout;
}

export interface OperatorOptions {
  watchNamespace: string;
  anthropicBaseUrl: string;
  /** A Redis of the test's own for the operator; the bed's by default. */
  redisUrl?: string;
  /** More of the operator's settings (operator/src/config.ts), e.g. DEFAULT_MODEL; they win over the defaults above. */
  env?: Record<string, string>;
}

export async function prepareOperator(options: OperatorOptions): Promise<OperatorUnderTest> {
  const suffix = crypto.randomBytes(3).toString('hex');
  const namespace = `claude-operator-${suffix}`;
  const release = `claude-operator-${suffix}`;
  const core = kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await installOperatorRbac(release, namespace);
  const token = await core.createNamespacedServiceAccountToken({
    name: release, namespace, body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = kubeConfig().getCurrentCluster()!;
  const kubeconfigFile = await writeKubeconfig(path.join(bedSetting('BED_DIR'), `${release}.kubeconfig`), {
    server: cluster.server, caCertFile: cluster.caFile!, user: `system:serviceaccount:${namespace}:${release}`, token: token.status?.token ?? '',
  });
  const logFile = path.join(bedSetting('BED_DIR'), `${release}.log`);
  const aclSecret = crypto.randomBytes(32).toString('hex');
  let current: Supervised | undefined;
  const all: Supervised[] = [];
  const operator: OperatorUnderTest = {
    namespace,
    serviceAccount: release,
    release,
    logFile,
    metricsUrl: '',
    async start({ waitReady = true, logFile: log = logFile } = {}) {
      const metricsPort = await freePort();
      operator.metricsUrl = `http://127.0.0.1:${metricsPort}`;
      current = startSupervised({
        name: 'operator',
        command: path.join(repoRoot, 'node_modules/.bin/node'),
        args: [path.join(repoRoot, 'operator/src/main.ts')],
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          KUBECONFIG: kubeconfigFile,
          DATABASE_URL: bedSetting('DATABASE_URL'),
          REDIS_URL: options.redisUrl ?? bedSetting('REDIS_URL'),
          ANTHROPIC_BASE_URL: options.anthropicBaseUrl,
          RUNNER_IMAGE: 'ghcr.io/claude-operator/runner:dev',
          // Each runner gets a Redis user of its own; the bed's Redis user (default) may create them.
          RUNNER_REDIS_ACL_SECRET: aclSecret,
          WATCH_NAMESPACE: options.watchNamespace,
          LEADER_ELECTION_NAMESPACE: namespace,
          METRICS_PORT: String(metricsPort),
          LOG_LEVEL: 'debug',
          ...options.env,
        },
        logFile: log,
      });
      const started = current;
      all.push(started);
      const running = { process: started, metricsUrl: operator.metricsUrl, logFile: log };
      if (!waitReady) return running;
      // Ready is not leading (a standby is Ready too): wait until this one leads.
      await waitFor('the operator leading', async () =>
        /^claude_operator_leader 1$/m.test(await fetch(`${running.metricsUrl}/metrics`).then((r) => r.text(), () => '')), { timeoutMs: 60_000 })
        .catch((error: Error) => { throw new Error(`${error.message}\n${started.logTail(40)}`); });
      return running;
    },
    async stop() {
      await Promise.all(all.map((process) => process.stop(10_000)));
    },
    async uninstall() {
      await kubectl('delete', 'clusterrole,clusterrolebinding', release, `${release}-policies`, '--ignore-not-found');
      await core.deleteNamespace({ name: namespace }).catch(() => undefined);
    },
  };
  return operator;
}
