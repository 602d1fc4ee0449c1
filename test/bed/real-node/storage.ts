// PVCs on the real node, as kind gives them: rancher's local-path-provisioner (built from its
// module by build-node.sh) behind a default StorageClass `standard` that binds on first use.
// A claim becomes a directory under the node's dir, made and removed by a helper pod of the
// node's busybox, so volumes go with the node. The provisioner runs as a host process (like
// the control plane's components here), out of cluster, with the admin kubeconfig.
// WaitForFirstConsumer means a claim is provisioned once kube-scheduler has picked its pod's
// node: a control plane without a scheduler leaves claims Pending, as a real one would.
import fs from 'node:fs/promises';
import path from 'node:path';
import { CoreV1Api, StorageV1Api, type KubeConfig } from '@kubernetes/client-node';
import { startSupervised, type Supervised } from '../process.ts';
import { daemonReady } from './daemon-ready.ts';

export const storageClassName = 'standard';
export const provisionerName = 'rancher.io/local-path';
const namespace = 'local-path-storage';
const serviceAccount = 'local-path-provisioner';
const configMap = 'local-path-config';
const ignoreMissing = (error: { code?: number }) => { if (error.code !== 404) throw error; };

export interface LocalPathStorage {
  /** Where claims' directories are, on the node. */
  volumesDir: string;
  provisioner: Supervised;
}

export interface LocalPathOptions {
  /** Under the node's dir: the provisioner's files and the volumes. */
  dir: string;
  binary: string;
  adminKubeconfigFile: string;
  admin: KubeConfig;
  /** The helper pods' image, pullable by the node. */
  helperImage: string;
  logFile: string;
}

/** The upstream deploy manifest's scripts: 0777 so a pod of any uid can write its claim. */
const setupScript = '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n';
const teardownScript = '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n';

export async function startLocalPathStorage(options: LocalPathOptions): Promise<LocalPathStorage> {
  const volumesDir = path.join(options.dir, 'volumes');
  await fs.mkdir(volumesDir, { recursive: true });
  const configFile = path.join(options.dir, 'config.json');
  const helperPodFile = path.join(options.dir, 'helper-pod.json');
  await fs.writeFile(configFile, JSON.stringify({
    nodePathMap: [{ node: 'DEFAULT_PATH_FOR_NON_LISTED_NODES', paths: [volumesDir] }],
  }));
  // The provisioner fills in the rest: name, node, volumes, command, tolerations.
  await fs.writeFile(helperPodFile, JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'helper-pod' },
    spec: { containers: [{ name: 'helper-pod', image: options.helperImage, imagePullPolicy: 'IfNotPresent' }] },
  }));
  await createStorageObjects(options.admin);
  const provisioner = startSupervised({
    name: 'local-path-provisioner',
    command: options.binary,
    args: ['start', '--kubeconfig', options.adminKubeconfigFile, '--config', configFile, '--helper-pod-file', helperPodFile,
      '--namespace', namespace, '--configmap-name', configMap, '--service-account-name', serviceAccount,
      '--helper-image', options.helperImage, '--provisioner-name', provisionerName],
    logFile: options.logFile,
  });
  // It logs its start once it has read its config; a bad flag or config ends it at once.
  await daemonReady(provisioner, 'local-path-provisioner started',
    async () => (await fs.readFile(options.logFile, 'utf8')).includes('Starting provisioner controller'))
    .catch(async (error: Error) => {
      await provisioner.stop();
      throw error;
    });
  return { volumesDir, provisioner };
}

/** The namespace its helper pods run in, their ServiceAccount and scripts, and the default
 * StorageClass. Made afresh: what a killed bed left is removed first. */
async function createStorageObjects(admin: KubeConfig): Promise<void> {
  await deleteStorageObjects(admin);
  const core = admin.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace } } }).catch((error: { code?: number }) => {
    if (error.code !== 409) throw error;
  });
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } }).catch((error: { code?: number }) => {
    if (error.code !== 409) throw error;
  });
  await core.createNamespacedConfigMap({ namespace, body: {
    metadata: { name: configMap },
    data: { setup: setupScript, teardown: teardownScript },
  } });
  await admin.makeApiClient(StorageV1Api).createStorageClass({ body: {
    metadata: { name: storageClassName, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
    provisioner: provisionerName,
    volumeBindingMode: 'WaitForFirstConsumer',
    reclaimPolicy: 'Delete',
  } });
}

/** The StorageClass and the scripts go; the namespace stays (deleting it would wait on its
 * helper pods' finalization, and an empty namespace holds nothing). */
export async function deleteStorageObjects(admin: KubeConfig): Promise<void> {
  await admin.makeApiClient(StorageV1Api).deleteStorageClass({ name: storageClassName }).catch(ignoreMissing);
  await admin.makeApiClient(CoreV1Api).deleteNamespacedConfigMap({ name: configMap, namespace }).catch(ignoreMissing);
}
