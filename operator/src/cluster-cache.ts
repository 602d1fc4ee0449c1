// What the reconciler reads: the informers' caches of tasks, the Jobs the
// operator made and their pods, not the apiserver. The watches keep them
// current; a read that must be exact (settling a 409) goes to the apiserver.
//
// Cached objects keep only what the operator needs: no managedFields, and a
// finished task without its prompts (its spec is not read again but for
// cancel and ttl; nor is a template task's resolvedSpec), so 10k finished tasks cost little memory.
import type { KubeConfig, KubernetesObject, V1Job, V1Namespace, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { claudeSessionPlural, type ClaudeSession } from '../../crds/src/claude-session.ts';
import { claudePolicyPlural, type ClaudePolicy } from '../../crds/src/claude-policy.ts';
import { claudeTaskPlural, group, terminalPhases, version, type ClaudeTask } from '../../crds/src/claude-task.ts';
import { claudeCronTaskPlural, type ClaudeCronTask } from '../../crds/src/claude-cron-task.ts';
import { Informer, withoutManagedFields, type InformerMetrics } from './kube/informer.ts';
import type { Logger } from '../../packages/platform/src/logger.ts';
import { managedByLabel, managedByValue } from './names.ts';

export interface ClusterCacheOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Empty: every namespace. */
  watchNamespace: string | undefined;
  metrics?: (resource: string) => InformerMetrics;
  resyncMs?: number;
}

export class ClusterCache {
  // ClaudeTask's timestamps are strings (as JSON has them); client-node's types say Date.
  readonly tasks: Informer<KubernetesObject>;
  readonly jobs: Informer<V1Job>;
  readonly pods: Informer<V1Pod>;
  readonly cronTasks: Informer<KubernetesObject>;
  /** Cluster-scoped, so every ClaudePolicy, whatever namespace the operator watches. */
  readonly policies: Informer<KubernetesObject>;
  /** Every namespace's labels: which ClaudePolicies select it (their namespaceSelector). */
  readonly namespaces: Informer<V1Namespace>;
  readonly sessions: Informer<KubernetesObject>;
  /** The PVCs the operator made for sessions. */
  readonly pvcs: Informer<V1PersistentVolumeClaim>;

  constructor(options: ClusterCacheOptions) {
    const namespace = options.watchNamespace;
    const scoped = (base: string, resource: string) => (namespace ? `${base}/namespaces/${namespace}/${resource}` : `${base}/${resource}`);
    const managed = `${managedByLabel}=${managedByValue}`;
    const common = { kubeConfig: options.kubeConfig, logger: options.logger, resyncMs: options.resyncMs ?? 5 * 60_000 };
    this.tasks = new Informer<KubernetesObject>({
      ...common, path: scoped(`/apis/${group}/${version}`, claudeTaskPlural),
      transform: (object) => slimTask(object as ClaudeTask) as KubernetesObject, ...metricsOf(options, 'claudetasks'),
    });
    this.jobs = new Informer<V1Job>({
      ...common, path: scoped('/apis/batch/v1', 'jobs'), labelSelector: managed, transform: withoutManagedFields, ...metricsOf(options, 'jobs'),
    });
    this.pods = new Informer<V1Pod>({
      ...common, path: scoped('/api/v1', 'pods'), labelSelector: managed, transform: withoutManagedFields, ...metricsOf(options, 'pods'),
    });
    this.cronTasks = new Informer<KubernetesObject>({
      ...common, path: scoped(`/apis/${group}/${version}`, claudeCronTaskPlural), transform: withoutManagedFields, ...metricsOf(options, 'claudecrontasks'),
    });
    this.policies = new Informer<KubernetesObject>({
      ...common, path: `/apis/${group}/${version}/${claudePolicyPlural}`, transform: withoutManagedFields, ...metricsOf(options, 'claudepolicies'),
    });
    this.namespaces = new Informer<V1Namespace>({
      ...common, path: '/api/v1/namespaces', transform: (object) => ({ metadata: { name: object.metadata?.name, labels: object.metadata?.labels } }) as V1Namespace,
      ...metricsOf(options, 'namespaces'),
    });
    this.sessions = new Informer<KubernetesObject>({
      ...common, path: scoped(`/apis/${group}/${version}`, claudeSessionPlural), transform: withoutManagedFields, ...metricsOf(options, 'claudesessions'),
    });
    this.pvcs = new Informer<V1PersistentVolumeClaim>({
      ...common, path: scoped('/api/v1', 'persistentvolumeclaims'), labelSelector: managed, transform: withoutManagedFields,
      ...metricsOf(options, 'persistentvolumeclaims'),
    });
  }

  get informers(): Array<Informer<KubernetesObject>> {
    return [this.tasks, this.jobs, this.pods, this.cronTasks, this.policies, this.sessions, this.pvcs, this.namespaces] as Array<Informer<KubernetesObject>>;
  }

  session(namespace: string, name: string): ClaudeSession | undefined {
    return this.sessions.get(`${namespace}/${name}`) as ClaudeSession | undefined;
  }

  pvc(namespace: string, name: string): V1PersistentVolumeClaim | undefined {
    return this.pvcs.get(`${namespace}/${name}`);
  }

  task(namespace: string, name: string): ClaudeTask | undefined {
    return this.tasks.get(`${namespace}/${name}`) as ClaudeTask | undefined;
  }

  policy(name: string): ClaudePolicy | undefined {
    return this.policies.get(name) as ClaudePolicy | undefined;
  }

  job(namespace: string, name: string): V1Job | undefined {
    return this.jobs.get(`${namespace}/${name}`);
  }

  cronTask(namespace: string, name: string): ClaudeCronTask | undefined {
    return this.cronTasks.get(`${namespace}/${name}`) as ClaudeCronTask | undefined;
  }

  /** The tasks whose controller is the cron task with this uid. */
  tasksOwnedBy(namespace: string, ownerUid: string): ClaudeTask[] {
    return (this.tasks.list() as unknown as ClaudeTask[]).filter((task) => task.metadata.namespace === namespace
      && task.metadata.ownerReferences?.some((owner) => owner.uid === ownerUid && owner.controller));
  }

  /** The pods the job controller made for this Job. */
  podsOfJob(namespace: string, jobName: string): V1Pod[] {
    return this.pods.list().filter((pod) => pod.metadata?.namespace === namespace && pod.metadata?.labels?.['batch.kubernetes.io/job-name'] === jobName);
  }

  /** Resolves once every cache holds its first list. */
  async start(): Promise<void> {
    await Promise.all(this.informers.map((informer) => informer.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((informer) => informer.stop()));
  }
}

function metricsOf(options: ClusterCacheOptions, resource: string): { metrics?: InformerMetrics } {
  return options.metrics ? { metrics: options.metrics(resource) } : {};
}

/** The prompts (up to 100 KiB each) of a finished task are in Postgres; the cache does not need them. */
export function slimTask(task: ClaudeTask): ClaudeTask {
  const slim = withoutManagedFields(task as unknown as KubernetesObject) as unknown as ClaudeTask;
  if (!(slim.status?.phase && terminalPhases.has(slim.status.phase))) return slim;
  const withoutPrompts = ({ prompt: _prompt, systemPrompt: _system, appendSystemPrompt: _append, variables: _variables, ...spec }: ClaudeTask['spec']) =>
    ({ ...spec, prompt: '' });
  const resolvedSpec = slim.status?.resolvedSpec;
  return { ...slim, spec: withoutPrompts(slim.spec), ...(resolvedSpec ? { status: { ...slim.status, resolvedSpec: withoutPrompts(resolvedSpec) } } : {}) };
}
