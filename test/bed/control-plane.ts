// An upstream Kubernetes control plane on loopback: etcd, kube-apiserver (RBAC,
// PodSecurity, service-account tokens, a static admin token) and
// kube-controller-manager, in a temp dir on free ports.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { controlPlaneBinaries, runBuildScript } from './binaries.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { makePki } from './pki.ts';
import { freePort } from './ports.ts';
import { startSupervised, waitFor, type Supervised } from './process.ts';

export interface ControlPlane {
  server: string;
  caCertFile: string;
  /** Signs more client certificates (the real node's kubelet). */
  caKeyFile: string;
  adminToken: string;
  /** system:masters; what `kubectl` and the tests use. */
  adminKubeconfig: string;
  kubectl: string;
  helm: string;
  workDir: string;
  /** JSON lines, one per request (Metadata level). */
  auditLog: string;
  /** Stops kube-apiserver (SIGTERM, as a rolling restart does), waits downMs, starts it again on the same port
   * with the same flags (etcd is kept, so every object and resourceVersion stays) and waits until it is ready. */
  restartApiserver(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

export const serviceClusterIpRange = '10.0.0.0/24';

export interface ControlPlaneOptions {
  /** What the `kubernetes` Service's endpoints say (default 127.0.0.1, where it listens): the
   * real node's end of the host link, 10.244.255.1, lets pods reach it through the node's relay. */
  advertiseAddress?: string;
  /** Also run kube-scheduler (built by test/cluster/build-node.sh), for a control plane whose
   * only node is the real one: Deployments' and StatefulSets' pods get bound to it. The bed's
   * default control plane has none, since its local node binds the pods without a node itself. */
  scheduler?: boolean;
}

export async function startControlPlane(workDir: string, options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const bin = await controlPlaneBinaries();
  const logs = path.join(workDir, 'logs');
  await fs.mkdir(logs, { recursive: true });
  const pki = await makePki(path.join(workDir, 'pki'));
  const started: Supervised[] = [];
  const stopAll = async () => {
    // Reverse order: the controller manager and apiserver go before etcd.
    for (const process of started.reverse()) await process.stop();
  };
  try {
    const [etcdClientPort, etcdPeerPort, apiserverPort, kcmPort] =
      [await freePort(), await freePort(), await freePort(), await freePort()];

    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const etcd = startSupervised({
      name: 'etcd',
      command: bin.etcd,
      args: [
        `--data-dir=${path.join(workDir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
        // A throwaway store: durability costs fsyncs the test bed does not need.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      logFile: path.join(logs, 'etcd.log'),
    });
    started.push(etcd);
    await waitFor('etcd /health', async () => (await fetch(`${etcdUrl}/health`)).ok, { timeoutMs: 30_000 });

    const adminToken = crypto.randomBytes(24).toString('hex');
    const controllerManagerToken = crypto.randomBytes(24).toString('hex');
    const schedulerToken = crypto.randomBytes(24).toString('hex');
    const tokenFile = path.join(workDir, 'tokens.csv');
    await fs.writeFile(tokenFile, [
      `${adminToken},admin,admin,"system:masters"`,
      `${controllerManagerToken},system:kube-controller-manager,system:kube-controller-manager`,
      // The bootstrap policy's system:kube-scheduler binding names this user.
      `${schedulerToken},system:kube-scheduler,system:kube-scheduler`,
    ].join('\n') + '\n', { mode: 0o600 });

    // Every request at Metadata level (who, verb, resource; no bodies), so tests
    // can prove which permissions a component really uses.
    const auditPolicy = path.join(workDir, 'audit-policy.yaml');
    const auditLog = path.join(workDir, 'audit.log');
    await fs.writeFile(auditPolicy, JSON.stringify({
      apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitStages: ['RequestReceived'], rules: [{ level: 'Metadata' }],
    }));

    const server = `https://127.0.0.1:${apiserverPort}`;
    const apiserverOptions = {
      name: 'kube-apiserver',
      command: bin.kubeApiserver,
      args: [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        `--advertise-address=${options.advertiseAddress ?? '127.0.0.1'}`,
        `--secure-port=${apiserverPort}`,
        `--tls-cert-file=${pki.apiserverCert}`,
        `--tls-private-key-file=${pki.apiserverKey}`,
        `--client-ca-file=${pki.caCert}`,
        // Towards kubelets (logs, exec, port-forward): the client certificate the
        // real node's kubelet trusts, and its address on the node's bridge, since
        // the machine's resolver knows no node's hostname.
        `--kubelet-client-certificate=${pki.kubeletClientCert}`,
        `--kubelet-client-key=${pki.kubeletClientKey}`,
        '--kubelet-preferred-address-types=InternalIP',
        `--token-auth-file=${tokenFile}`,
        '--authorization-mode=RBAC',
        // Added to the defaults (which already hold the first three) to say they are
        // relied on; OwnerReferencesPermissionEnforcement makes blockOwnerDeletion
        // need permission, as on clusters that enable it.
        '--enable-admission-plugins=PodSecurity,ResourceQuota,ServiceAccount,OwnerReferencesPermissionEnforcement',
        `--audit-policy-file=${auditPolicy}`,
        `--audit-log-path=${auditLog}`,
        '--audit-log-format=json',
        '--audit-log-maxsize=200',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pki.serviceAccountPub}`,
        `--service-account-signing-key-file=${pki.serviceAccountKey}`,
        `--service-cluster-ip-range=${serviceClusterIpRange}`,
        '--allow-privileged=true',
        '--profiling=false',
        '--v=1',
      ],
      logFile: path.join(logs, 'kube-apiserver.log'),
    };
    const apiserver = startSupervised(apiserverOptions);
    started.push(apiserver);
    await waitFor('kube-apiserver /readyz', () => isReady(server, pki.caCert, adminToken), { timeoutMs: 90_000 })
      .catch((error: Error) => { throw withLog(error, apiserver); });

    const adminKubeconfig = await writeKubeconfig(path.join(workDir, 'admin.kubeconfig'),
      { server, caCertFile: pki.caCert, user: 'admin', token: adminToken });
    const controllerManagerKubeconfig = await writeKubeconfig(path.join(workDir, 'kube-controller-manager.kubeconfig'),
      { server, caCertFile: pki.caCert, user: 'system:kube-controller-manager', token: controllerManagerToken });

    const controllerManager = startSupervised({
      name: 'kube-controller-manager',
      command: bin.kubeControllerManager,
      args: [
        `--kubeconfig=${controllerManagerKubeconfig}`,
        `--authentication-kubeconfig=${controllerManagerKubeconfig}`,
        `--authorization-kubeconfig=${controllerManagerKubeconfig}`,
        // The defaults: job, garbage-collector, namespace, resource-quota,
        // service-account(-token), node-lifecycle, ttl-after-finished and the rest.
        '--controllers=*',
        '--use-service-account-credentials=true',
        `--service-account-private-key-file=${pki.serviceAccountKey}`,
        `--root-ca-file=${pki.caCert}`,
        `--service-cluster-ip-range=${serviceClusterIpRange}`,
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        `--secure-port=${kcmPort}`,
        `--cert-dir=${path.join(workDir, 'kcm-certs')}`,
        '--v=1',
      ],
      logFile: path.join(logs, 'kube-controller-manager.log'),
    });
    started.push(controllerManager);
    // The service-account controller is running once `default` has its SA.
    await waitFor('kube-controller-manager (the default ServiceAccount)', async () =>
      (await apiGet(server, pki.caCert, adminToken, '/api/v1/namespaces/default/serviceaccounts/default')).status === 200,
    { timeoutMs: 60_000 }).catch((error: Error) => { throw withLog(error, controllerManager); });

    if (options.scheduler) {
      const schedulerKubeconfig = await writeKubeconfig(path.join(workDir, 'kube-scheduler.kubeconfig'),
        { server, caCertFile: pki.caCert, user: 'system:kube-scheduler', token: schedulerToken });
      const scheduler = startSupervised({
        name: 'kube-scheduler',
        command: path.join(await runBuildScript('build-node.sh'), 'kube-scheduler'),
        args: [
          `--kubeconfig=${schedulerKubeconfig}`,
          `--authentication-kubeconfig=${schedulerKubeconfig}`,
          `--authorization-kubeconfig=${schedulerKubeconfig}`,
          '--leader-elect=false',
          '--bind-address=127.0.0.1',
          `--secure-port=${await freePort()}`,
          '--v=1',
        ],
        logFile: path.join(logs, 'kube-scheduler.log'),
      });
      started.push(scheduler);
    }

    let stopping = false;
    /** Processes stopped on purpose before the bed stops (a restart): their exit is no news. */
    const retired = new Set<Supervised>();
    const reportUnexpectedExit = (process: Supervised) => {
      void process.exited.then(({ code, signal }) => {
        if (!stopping && !retired.has(process)) console.error(`[test bed] ${process.name} exited (${code ?? signal}) while running:\n${process.logTail(10)}`);
      });
    };
    started.forEach(reportUnexpectedExit);
    return {
      server,
      caCertFile: pki.caCert,
      caKeyFile: pki.caKey,
      adminToken,
      adminKubeconfig,
      kubectl: bin.kubectl,
      helm: bin.helm,
      workDir,
      auditLog,
      async restartApiserver(downMs: number) {
        const index = started.findIndex((process) => process.name === 'kube-apiserver');
        const old = started[index]!;
        retired.add(old);
        await old.stop(30_000);
        await new Promise((resolve) => setTimeout(resolve, downMs));
        const restarted = startSupervised(apiserverOptions);
        started[index] = restarted;
        reportUnexpectedExit(restarted);
        await waitFor('kube-apiserver /readyz after its restart', () => isReady(server, pki.caCert, adminToken), { timeoutMs: 90_000 })
          .catch((error: Error) => { throw withLog(error, restarted); });
      },
      async stop() {
        stopping = true;
        await stopAll();
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function withLog(error: Error, process: Supervised): Error {
  return new Error(`${error.message}\n--- last lines of ${process.name}'s log ---\n${process.logTail()}`);
}

async function isReady(server: string, caCertFile: string, token: string): Promise<boolean> {
  return (await apiGet(server, caCertFile, token, '/readyz')).status === 200;
}

/** A GET against the apiserver with nothing but node:https, for readiness checks
 * before any client library is configured. */
export async function apiGet(server: string, caCertFile: string, token: string, urlPath: string):
Promise<{ status: number; body: string }> {
  const ca = await fs.readFile(caCertFile);
  return new Promise((resolve, reject) => {
    const request = https.get(new URL(urlPath, server), { ca, headers: { authorization: `Bearer ${token}` }, timeout: 5_000 },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => { body += chunk; });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', reject);
  });
}
