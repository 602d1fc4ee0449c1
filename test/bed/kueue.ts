// Kueue (sigs.k8s.io/kueue, built by test/cluster/build-kueue.sh) as a host process
// against the bed's apiserver, for the e2e tests that need real admission: its CRDs
// installed, its manager on loopback with leader election off, and its webhooks
// served on loopback with a certificate from the bed's CA, registered as URL-based
// webhook configurations (a cluster would point them at Kueue's Service). The Job
// webhooks only see the namespaces the caller names, so other tests sharing the
// bed never wait on this Kueue.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { runBuildScript } from './binaries.ts';
import { caKeyFileFor, issueServingCert } from './pki.ts';
import { freePort } from './ports.ts';
import { GiveUp, startSupervised, waitFor, type Supervised } from './process.ts';

export interface KueueOptions {
  /** Scratch space of the test (config, certificates, log). */
  workDir: string;
  kubeconfig: string;
  /** The bed's kubectl. */
  kubectl: (...args: string[]) => Promise<{ stdout: string; stderr: string; code: number }>;
  /** The bed's CA: its key (beside it) signs the webhook server's certificate. */
  caCertFile: string;
  /** The namespaces whose Jobs go through Kueue's Job webhooks. */
  jobNamespaces: string[];
}

export interface RunningKueue {
  /** Where Kueue keeps its own objects. */
  namespace: string;
  logTail(lines?: number): string;
  /** Removes the webhook configurations first (nothing may call a stopped webhook), then stops Kueue. Idempotent. */
  stop(): Promise<void>;
}

interface WebhookConfiguration {
  kind: string;
  metadata: { name: string };
  webhooks: Array<{
    name: string;
    clientConfig: { service?: { path?: string }; url?: string; caBundle?: string };
    rules?: Array<{ apiGroups?: string[] }>;
    namespaceSelector?: unknown;
  }>;
}

export async function startKueue(options: KueueOptions): Promise<RunningKueue> {
  const cacheDir = await runBuildScript('build-kueue.sh');
  const { kubectl } = options;
  const must = async (what: string, ...args: string[]) => {
    const result = await kubectl(...args);
    if (result.code !== 0) throw new Error(`${what}: kubectl ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  // Server-side: the CRDs are too large for the last-applied annotation of a client-side apply.
  await must('Kueue CRDs', 'apply', '--server-side', '--force-conflicts', '-f', path.join(cacheDir, 'crds'));
  await must('Kueue CRDs established', 'wait', '--for=condition=Established', '--timeout=60s', '-f', path.join(cacheDir, 'crds'));

  const suffix = crypto.randomBytes(3).toString('hex');
  const namespace = `kueue-system-${suffix}`;
  await must('Kueue namespace', 'create', 'namespace', namespace);

  // Kueue v0.17 with its own certificate management off reads the metrics server's certificate from
  // a fixed /etc/kueue/metrics/certs. Nothing of the bed may go outside its temp dir, so Kueue gets a
  // private /etc: in a mount namespace of its own, an overlay whose upper layer (holding that
  // directory) is here.
  const etcUpper = path.join(options.workDir, 'kueue-etc', 'upper');
  const etcWork = path.join(options.workDir, 'kueue-etc', 'work');
  const certDir = path.join(etcUpper, 'kueue/metrics/certs');
  await fs.mkdir(certDir, { recursive: true });
  await fs.mkdir(etcWork, { recursive: true });
  // tls.crt and tls.key: the names controller-runtime's webhook server (and Kueue's metrics) read.
  // One certificate serves both, on loopback.
  await issueServingCert({ caCert: options.caCertFile, caKey: caKeyFileFor(options.caCertFile) }, {
    certFile: path.join(certDir, 'tls.crt'), keyFile: path.join(certDir, 'tls.key'),
    commonName: 'kueue-webhook', altNames: ['IP:127.0.0.1'],
  });

  const [webhookPort, metricsPort, healthPort] = [await freePort(), await freePort(), await freePort()];
  const configFile = path.join(options.workDir, 'kueue-config.yaml');
  // JSON is YAML. Kueue v0.17's Configuration, config.kueue.x-k8s.io/v1beta2.
  await fs.writeFile(configFile, JSON.stringify({
    apiVersion: 'config.kueue.x-k8s.io/v1beta2',
    kind: 'Configuration',
    namespace,
    leaderElection: { leaderElect: false },
    health: { healthProbeBindAddress: `127.0.0.1:${healthPort}` },
    metrics: { bindAddress: `127.0.0.1:${metricsPort}` },
    webhook: { host: '127.0.0.1', port: webhookPort, certDir },
    // The certificate comes from the bed's CA above; Kueue's own would need its webhook Service and Secret.
    internalCertManagement: { enable: false },
    manageJobsWithoutQueueName: false,
    integrations: { frameworks: ['batch/job'] },
    // The visibility API server binds every address and wants an APIService: not needed here.
    featureGates: { VisibilityOnDemand: false },
  }, null, 2));

  const kueue: Supervised = startSupervised({
    name: 'kueue',
    // unshare and sh exec, so the pid (and the bed's parent-death signal) is Kueue's own.
    command: 'unshare',
    args: ['--mount', '--propagation', 'private', '--', 'sh', '-c',
      'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc && shift 2 && exec "$@"',
      'sh', etcUpper, etcWork, path.join(cacheDir, 'bin/kueue'), `--config=${configFile}`, '--zap-log-level=info'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', KUBECONFIG: options.kubeconfig },
    logFile: path.join(options.workDir, 'kueue.log'),
  });
  let exited = false;
  void kueue.exited.then(() => { exited = true; });

  const webhookNames: Array<{ kind: string; name: string }> = [];
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      for (const { kind, name } of webhookNames) await kubectl('delete', kind, name, '--ignore-not-found').catch(() => undefined);
      await kueue.stop();
      await kubectl('delete', 'namespace', namespace, '--wait=false', '--ignore-not-found').catch(() => undefined);
    })();
    return stopping;
  };

  try {
    // Ready once its webhook server listens with the certificate.
    await waitFor('Kueue /readyz', async () => {
      if (exited) throw new GiveUp('Kueue exited');
      return (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).ok;
    }, { timeoutMs: 60_000 });

    const caBundle = (await fs.readFile(options.caCertFile)).toString('base64');
    // kubectl reads the YAML (no YAML parser of our own): one pretty-printed JSON object per document.
    const upstream = (await must('Kueue webhook manifests', 'create', '--dry-run=client', '-o', 'json',
      '-f', path.join(cacheDir, 'webhooks.yaml'))).split(/\n(?=\{)/).map((document) => JSON.parse(document) as WebhookConfiguration);
    for (const configuration of upstream) {
      const name = `kueue-${suffix}-${configuration.kind.startsWith('Mutating') ? 'mutating' : 'validating'}`;
      const webhooks = configuration.webhooks
        // Kueue's own kinds and Jobs; the webhooks of the integrations left off would see every pod or Deployment.
        .filter((webhook) => webhook.rules?.some((rule) => rule.apiGroups?.some((group) => group === 'kueue.x-k8s.io' || group === 'batch')))
        .map((webhook) => {
          const isJobs = webhook.rules?.some((rule) => rule.apiGroups?.includes('batch')) ?? false;
          return {
            ...webhook,
            clientConfig: { url: `https://127.0.0.1:${webhookPort}${webhook.clientConfig.service?.path ?? ''}`, caBundle },
            ...(isJobs ? { namespaceSelector: { matchExpressions: [
              { key: 'kubernetes.io/metadata.name', operator: 'In', values: options.jobNamespaces }] } } : {}),
          };
        });
      const manifest = path.join(options.workDir, `${name}.json`);
      await fs.writeFile(manifest, JSON.stringify({ ...configuration, metadata: { name }, webhooks }));
      webhookNames.push({ kind: configuration.kind, name });
      await must(`Kueue ${configuration.kind}`, 'create', '-f', manifest);
    }
    return { namespace, logTail: (lines) => kueue.logTail(lines), stop };
  } catch (error) {
    const tail = kueue.logTail();
    await stop();
    throw new Error(`${(error as Error).message}\n--- last lines of Kueue's log ---\n${tail}`, { cause: error });
  }
}
