// Reconciles one ClaudeTask, by key. Level-triggered and idempotent: every pass
// reads the task, its Job and pods, and rebuilds the status from them.
//
// Contract of the phases (who may write what):
// - creating: only while there is no Job and the task is not cancelled; the spec
//   Secret and the Job are created once and never edited, but for `suspend`.
// - cancelling: sets the Job's spec.suspend, so the job controller deletes the
//   pod gracefully; nothing else touches the pod.
// - status: written only from computeStatus(); Postgres first, then the status
//   subresource, so a crash in between repeats the write instead of losing it.
// - finalizing: the finalizer is removed only after the final status and every
//   event are in Postgres.
// - rate-limited re-run: an attempt that ended because the Messages API
//   rate-limited it (runner exit code rateLimited, summary reason RateLimited,
//   task-status.ts rateLimitedAttempt) does not end the task. The pass that
//   sees it records the hold on the task's API-key Secret (rate-limits.ts),
//   writes Queued RateLimited, then deletes the Job (Background): the one case
//   where the operator deletes a Job it made. With the Job gone the task is
//   admitted again like a new one: the gate holds it until the reset, then a
//   Job of the same name is created (the spec Secret is reused as it is). The
//   status is written before the delete, so no pass sees the Job gone and the
//   task not Queued; a pass that still sees the failed Job repeats the same
//   steps (idempotent). There is no cap on such re-runs: each waits for a reset
//   and spec.cancel ends the task as ever.
import { isDeepStrictEqual } from 'node:util';
import { PatchStrategy, setHeaderOptions, type CoreV1Event, type V1Job, type V1Pod } from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import {
  ClaudeTaskSpecSchema, claudeTaskPlural, group, terminalPhases, version, type ClaudeTask, type ClaudeTaskStatus,
} from '../../crds/src/claude-task.ts';
import { claudeTaskTemplatePlural, type ClaudeTaskTemplate } from '../../crds/src/claude-task-template.ts';
import { resolveTemplate } from '../../crds/src/template-resolution.ts';
import { asResolved, resolutionOf } from './resolved-task.ts';
import { parseStreamEntry, workloadStreamKeys } from '../../packages/contracts/src/event-stream.ts';
import type { TaskEventRecord } from '../../packages/contracts/src/task-events.ts';
import type { OperatorConfig } from './config.ts';
import { desiredJob, desiredSpecSecret } from './desired-job.ts';
import type { ClusterCache } from './cluster-cache.ts';
import type { EventCopier } from './event-copier.ts';
import type { EventRecorder } from './event-recorder.ts';
import type { RunnerRedisUsers } from './runner-redis-users.ts';
import { PermanentError } from './kube/work-queue.ts';
import type { ReconcileResult } from './manager.ts';
import { statusCode } from '../../packages/platform/src/kube-errors.ts';
import { asPermanentApiError, type KubeClients } from './kube-clients.ts';
import type { Logger } from '../../packages/platform/src/logger.ts';
import { finalizerName, jobNameFor } from './names.ts';
import type { TaskStore } from '../../packages/database/src/task-store.ts';
import { computeStatus, eventTypeFor, failedStatus, rateLimitedAttempt, ttlDecision, type ObservedTask } from './task-status.ts';
import type { ConcurrencyGate } from './policy/concurrency-gate.ts';


export interface TaskReconcilerDeps {
  clients: KubeClients;
  /** Reads come from here; the apiserver is asked only to settle a conflict. */
  cache: Pick<ClusterCache, 'task' | 'job' | 'podsOfJob'>;
  store: TaskStore;
  redis: Redis;
  recorder: EventRecorder;
  /** Copies running tasks' events to Postgres as they come. */
  copier: Pick<EventCopier, 'follow' | 'unfollow'>;
  /** The ClaudePolicies' concurrency limits: a task's Job is created only through it. */
  gate: Pick<ConcurrencyGate, 'admit' | 'kueueQueueFor'>;
  /** Holds the task's API-key Secret until the reset its rate-limited attempt reported (undefined: when unknown). */
  holdRateLimit?: (task: ClaudeTask, resetAt: string | undefined) => Date | undefined;
  /** Per-task Redis users for the runners; undefined with RUNNER_REDIS_USERS=shared. */
  redisUsers?: Pick<RunnerRedisUsers, 'ensure' | 'remove'> | undefined;
  config: OperatorConfig;
  log: Logger;
  now?: () => Date;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** A running task is looked at again at least this often, whatever the watches say. */
const activeResyncMs = 30_000;
/** A queued task is woken when room frees up (task-controller.ts); this is the fallback. */
const queuedResyncMs = 30_000;
/** A Job without a pod is looked at this often, to say soon that the apiserver refuses its pod, and when it no longer does. */
const podRefusalResyncMs = 5_000;

export class TaskReconciler {
  private readonly deps: TaskReconcilerDeps;

  constructor(deps: TaskReconcilerDeps) {
    this.deps = deps;
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace = '', name = ''] = key.split('/');
    let task = this.deps.cache.task(namespace, name);
    if (!task) return {};
    if (task.metadata.deletionTimestamp) return this.finalizeDeleted(asResolved(task));
    if (!task.metadata.finalizers?.includes(finalizerName)) task = await this.addFinalizer(task);
    task = asResolved(task);
    if (task.status?.phase && terminalPhases.has(task.status.phase)) return this.finished(task, task.status);
    if (task.spec.templateRef) {
      const resolved = await this.resolveTemplate(task, task.spec.templateRef.name);
      if (!resolved.ok) return this.fail(task, undefined, resolved.reason, resolved.message);
      task = resolved.task;
    }

    const invalid = ClaudeTaskSpecSchema.safeParse(task.spec);
    if (!invalid.success) {
      const message = `invalid spec: ${invalid.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`;
      return this.fail(task, undefined, 'InvalidSpec', message);
    }

    const jobName = jobNameFor(name, task.metadata.uid ?? '');
    let job = this.deps.cache.job(namespace, jobName);
    if (!job && !task.spec.cancel) {
      const admitted = task;
      try {
        const admission = await this.deps.gate.admit(admitted, async (remainingUSD) => { job = await this.createJob(admitted, remainingUSD); });
        if (!admission.admit) {
          const queued = { reason: admission.reason, message: admission.message };
          await this.writeStatus(task, computeStatus({ ...this.observed(task, undefined, []), queued }));
          // A rate limit ends at its reset: the task is looked at then (and the gate's concurrency still bounds what starts).
          return { requeueAfterMs: admission.reason === 'RateLimited' ? Math.min(admission.retryAfterMs + 100, queuedResyncMs) : queuedResyncMs };
        }
      } catch (error) {
        // Retrying a request the apiserver refused as invalid or forbidden cannot help: the task ends, and says why.
        if (error instanceof PermanentError) return this.fail(task, job, 'JobRejected', error.message);
        throw error;
      }
      if (!job) return { requeueAfterMs: 500 };
    }
    if (job && task.spec.cancel && !job.spec?.suspend && !jobFinished(job)) {
      job = await this.deps.clients.batch.patchNamespacedJob({ name: jobName, namespace, body: { spec: { suspend: true } } }, mergePatch);
      this.deps.recorder.record(task, 'Normal', 'Cancelling', 'spec.cancel is set: stopping the agent');
    }
    const pods = job ? this.deps.cache.podsOfJob(namespace, jobName) : [];
    const limited = job && rateLimitedAttempt({ task, job, pods });
    if (job && limited) return this.rerunAfterRateLimit(task, job, limited.resetAt);
    const waitingForPod = job !== undefined && pods.length === 0 && !jobFinished(job);
    const podRefusal = waitingForPod && job ? await this.podRefusal(job) : undefined;
    const status = computeStatus({ ...this.observed(task, job, pods), podRefusal });
    await this.writeStatus(task, status);
    if (status.phase && terminalPhases.has(status.phase)) return this.finished(task, status);
    if (job) {
      const identity = { namespace, name, uid: task.metadata.uid ?? '' };
      // After writeStatus: the task's record exists, so its events can be stored.
      this.deps.copier.follow(identity);
      // Again on every pass: a Redis that restarted has forgotten it, and the runner waits for it meanwhile.
      await this.deps.redisUsers?.ensure(identity);
    }
    // A refused pod changes neither the Job nor its pods, so no watch says when the job controller gets past it.
    return { requeueAfterMs: waitingForPod ? podRefusalResyncMs : activeResyncMs };
  }

  /** The job controller's newest FailedCreate Event for the Job: the apiserver's reason for refusing its pod. Read from
   * the apiserver, not the cache: Events are many and only a Job without a pod needs them. A failed read (RBAC without
   * `list events`) only costs the task the better message. */
  private async podRefusal(job: V1Job): Promise<string | undefined> {
    const namespace = job.metadata?.namespace ?? '';
    try {
      const events = await this.deps.clients.core.listNamespacedEvent({
        namespace, fieldSelector: `involvedObject.uid=${job.metadata?.uid ?? ''},reason=FailedCreate`,
      });
      const when = (e: CoreV1Event) => new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? 0).getTime();
      return events.items.sort((a, b) => when(a) - when(b)).pop()?.message;
    } catch (error) {
      this.deps.log.warn({ job: `${namespace}/${job.metadata?.name}`, status: statusCode(error) }, 'cannot list the Job\'s FailedCreate events');
      return undefined;
    }
  }

  /** See the phase contract at the top: hold, Queued RateLimited, then the Job deleted so the gate admits the task anew. */
  private async rerunAfterRateLimit(task: ClaudeTask, job: V1Job, resetAt: string | undefined): Promise<ReconcileResult> {
    const namespace = task.metadata.namespace ?? '';
    const until = this.deps.holdRateLimit?.(task, resetAt);
    const when = until ? `after the limit resets at ${until.toISOString()}` : 'once the limit resets';
    const queued = { reason: 'RateLimited' as const, message: `the Messages API rate-limited the last attempt (429); the task runs again ${when}` };
    await this.writeStatus(task, computeStatus({ ...this.observed(task, undefined, []), queued }));
    await this.deps.clients.batch.deleteNamespacedJob({ name: job.metadata?.name ?? '', namespace, propagationPolicy: 'Background' })
      .catch((error: unknown) => {
        if (statusCode(error) !== 404) throw error;
      });
    this.deps.log.info({ task: `${namespace}/${task.metadata.name}`, job: job.metadata?.name, until: until?.toISOString() },
      'the attempt was rate-limited: the Job is deleted and the task runs again after the reset');
    this.deps.recorder.record(task, 'Normal', 'RateLimited', queued.message);
    return { requeueAfterMs: 1_000 };
  }

  /** The template read once and resolved (template-resolution.ts); the result goes to status at once, and later passes run it (asResolved). */
  private async resolveTemplate(task: ClaudeTask, templateName: string): Promise<{ ok: true; task: ClaudeTask } | { ok: false; reason: string; message: string }> {
    const namespace = task.metadata.namespace ?? '';
    let template: ClaudeTaskTemplate;
    try {
      template = await this.deps.clients.custom.getNamespacedCustomObject({
        group, version, namespace, plural: claudeTaskTemplatePlural, name: templateName,
      }) as ClaudeTaskTemplate;
    } catch (error) {
      if (statusCode(error) === 404) {
        return { ok: false, reason: 'TemplateNotFound', message: `spec.templateRef names ClaudeTaskTemplate ${templateName}, which does not exist in namespace ${namespace}` };
      }
      throw error;
    }
    const resolution = resolveTemplate(templateName, template.spec, task.spec);
    if (!resolution.ok) return resolution;
    const status: ClaudeTaskStatus = {
      ...task.status,
      template: { name: templateName, resourceVersion: template.metadata.resourceVersion ?? '' },
      resolvedSpec: resolution.spec,
    };
    // Recorded before anything is made from it: a pass after a crash runs this, even if the template has changed since.
    await this.deps.clients.custom.patchNamespacedCustomObjectStatus({
      group, version, namespace, plural: claudeTaskPlural, name: task.metadata.name ?? '',
      body: { status: resolutionOf(status) },
    }, mergePatch);
    this.deps.log.info({ task: `${namespace}/${task.metadata.name}`, template: templateName, resourceVersion: template.metadata.resourceVersion }, 'template resolved');
    return { ok: true, task: asResolved({ ...task, status }) };
  }

  private observed(task: ClaudeTask, job: V1Job | undefined, pods: V1Pod[]): ObservedTask {
    return { task, job, pods, now: this.now(), defaultModel: this.deps.config.DEFAULT_MODEL };
  }

  private async fail(task: ClaudeTask, job: V1Job | undefined, reason: string, message: string): Promise<ReconcileResult> {
    const status = failedStatus(this.observed(task, job, []), reason, message);
    await this.writeStatus(task, status);
    return this.finished(task, status);
  }

  /** Once the task has ended: its record made final, then, with spec.ttlSecondsAfterFinished, the task deleted when that has passed. */
  private async finished(task: ClaudeTask, status: ClaudeTaskStatus): Promise<ReconcileResult> {
    // A Job past its deadline is Failed while its pod still stops: the runner's last events are yet to come.
    if (!(await this.recordFinal(task, status))) return { requeueAfterMs: 1_000 };
    const ttl = ttlDecision(task.spec.ttlSecondsAfterFinished, status.completionTime, this.now());
    if (ttl.action === 'wait') return { requeueAfterMs: ttl.afterMs };
    if (ttl.action === 'delete') {
      this.deps.log.info({ task: `${task.metadata.namespace}/${task.metadata.name}` }, 'deleting the task: ttlSecondsAfterFinished has passed');
      // The finalizer pass that follows drops the event stream; the record stays in Postgres.
      await this.deps.clients.custom.deleteNamespacedCustomObject({
        group, version, namespace: task.metadata.namespace ?? '', plural: claudeTaskPlural, name: task.metadata.name ?? '',
        body: { preconditions: { uid: task.metadata.uid } },
      }).catch((error: unknown) => {
        if (statusCode(error) !== 404 && statusCode(error) !== 409) throw error;
      });
    }
    return {};
  }

  /** Creates the spec Secret and the Job; one already there (an earlier pass) is used as is. `remainingUSD`: what the
   * ClaudePolicies' budgets leave, the run's cap when it is below spec.maxBudgetUSD.
   * Undefined when the Job exists already (a pass the cache has not caught up with): the watch brings it. */
  private async createJob(task: ClaudeTask, remainingUSD: string | undefined): Promise<V1Job | undefined> {
    const namespace = task.metadata.namespace ?? '';
    const credentials = await this.deps.redisUsers?.ensure({ namespace, name: task.metadata.name ?? '', uid: task.metadata.uid ?? '' });
    const secret = desiredSpecSecret(task, this.deps.config, { runnerRedisUrl: credentials?.url, remainingUSD });
    await this.deps.clients.core.createNamespacedSecret({ namespace, body: secret }).catch((error: unknown) => {
      if (statusCode(error) !== 409) throw asPermanentApiError(error, `creating Secret ${secret.metadata?.name}`);
    });
    const job = desiredJob(task, this.deps.config, { kueueQueue: this.deps.gate.kueueQueueFor(namespace) });
    try {
      const created = await this.deps.clients.batch.createNamespacedJob({ namespace, body: job });
      this.deps.log.info({ task: `${namespace}/${task.metadata.name}`, job: created.metadata?.name }, 'job created');
      this.deps.recorder.record(task, 'Normal', 'JobCreated', `created Job ${created.metadata?.name}`);
      return created;
    } catch (error) {
      if (statusCode(error) !== 409) throw asPermanentApiError(error, `creating Job ${job.metadata?.name}`);
      return undefined;
    }
  }

  private async addFinalizer(task: ClaudeTask): Promise<ClaudeTask> {
    const finalizers = [...(task.metadata.finalizers ?? []), finalizerName];
    // resourceVersion in the patch: a concurrent change fails it (409) instead of being overwritten.
    return await this.deps.clients.custom.patchNamespacedCustomObject({
      group, version, namespace: task.metadata.namespace ?? '', plural: claudeTaskPlural, name: task.metadata.name ?? '',
      body: { metadata: { finalizers, resourceVersion: task.metadata.resourceVersion } },
    }, mergePatch) as ClaudeTask;
  }

  private async removeFinalizer(task: ClaudeTask): Promise<void> {
    const finalizers = (task.metadata.finalizers ?? []).filter((f) => f !== finalizerName);
    await this.deps.clients.custom.patchNamespacedCustomObject({
      group, version, namespace: task.metadata.namespace ?? '', plural: claudeTaskPlural, name: task.metadata.name ?? '',
      body: { metadata: { finalizers, resourceVersion: task.metadata.resourceVersion } },
    }, mergePatch).catch((error: unknown) => {
      if (statusCode(error) !== 404) throw error;
    });
  }

  /** Postgres first, then the status subresource; both only when something changed. */
  private async writeStatus(task: ClaudeTask, computed: ClaudeTaskStatus): Promise<void> {
    // computeStatus rebuilds what it observes; the template's resolution is kept as it was recorded.
    const status = { ...computed, ...resolutionOf(task.status) };
    if (isDeepStrictEqual(normalize(status), normalize(task.status ?? {}))) return;
    const transitioned = await this.deps.store.recordStatus(task, status);
    await this.deps.clients.custom.patchNamespacedCustomObjectStatus({
      group, version, namespace: task.metadata.namespace ?? '', plural: claudeTaskPlural, name: task.metadata.name ?? '',
      body: { status },
    }, mergePatch);
    const type = eventTypeFor(status.phase, status.reason);
    // Postgres, not the (maybe stale) cached task, says whether the phase changed: one Event per transition.
    const phaseChanged = transitioned;
    if (phaseChanged) {
      this.deps.log.info({ task: `${task.metadata.namespace}/${task.metadata.name}`, from: task.status?.phase, to: status.phase, reason: status.reason }, 'phase');
    }
    // A new phase, or a new reason someone has to act on (a missing Secret while Pending).
    // Not for an ended task: its one Event is the transition's, and a pass on a cached
    // task that does not show the end yet would otherwise post it twice.
    const ended = status.phase !== undefined && terminalPhases.has(status.phase);
    if (phaseChanged || (type === 'Warning' && !ended && status.reason !== task.status?.reason)) {
      const reason = type === 'Warning' && status.phase === 'Pending' ? status.reason : status.phase;
      this.deps.recorder.record(task, type, reason ?? 'Pending', status.message ?? '');
    }
  }

  /** The final status and every event in Postgres, then the runner's Redis user
   * deleted; idempotent and skipped once done. False while the agent's pod still
   * stops (its last events are not written yet): call again. */
  private async recordFinal(task: ClaudeTask, status: ClaudeTaskStatus): Promise<boolean> {
    const uid = task.metadata.uid ?? '';
    const stored = await this.deps.store.get(uid);
    if (!stored?.finalizedAt) {
      const namespace = task.metadata.namespace ?? '';
      const pods = this.deps.cache.podsOfJob(namespace, jobNameFor(task.metadata.name ?? '', uid));
      if (pods.some((pod) => (pod.status?.phase === 'Running' || pod.status?.phase === 'Pending'))) return false;
      await this.deps.store.recordStatus(task, status);
      // Most are there already (the copier); this reads what came after its last pass.
      await this.deps.store.recordEvents(uid, await this.readEvents(task));
      // Before markFinalized, so a crash in between removes it on the next pass.
      await this.deps.redisUsers?.remove({ uid });
      await this.deps.store.markFinalized(uid, status.result);
    }
    this.deps.copier.unfollow(uid);
    return true;
  }

  /** A task deleted while its agent runs is stopped first (as a cancel would),
   * so the runner's last events land before the history is copied; only then is
   * the finalizer removed. */
  private async finalizeDeleted(task: ClaudeTask): Promise<ReconcileResult> {
    if (!task.metadata.finalizers?.includes(finalizerName)) return {};
    let final = task.status ?? { phase: 'Pending' };
    if (!(task.status?.phase && terminalPhases.has(task.status.phase))) {
      const namespace = task.metadata.namespace ?? '';
      const jobName = jobNameFor(task.metadata.name ?? '', task.metadata.uid ?? '');
      const job = this.deps.cache.job(namespace, jobName);
      if (job && !job.spec?.suspend && !jobFinished(job)) {
        await this.deps.clients.batch.patchNamespacedJob({ name: jobName, namespace, body: { spec: { suspend: true } } }, mergePatch);
      }
      const pods = job ? this.deps.cache.podsOfJob(namespace, jobName) : [];
      if (pods.some((p) => p.status?.phase === 'Running' || p.status?.phase === 'Pending')) return { requeueAfterMs: 1_000 };
      final = computeStatus(this.observed({ ...task, spec: { ...task.spec, cancel: true } }, job && { ...job, spec: { ...job.spec!, suspend: true } }, pods));
      final = { ...final, message: 'deleted while it ran: the agent was stopped' };
    }
    if (!(await this.recordFinal(task, final))) return { requeueAfterMs: 1_000 };
    // Another finalizer keeps the object (the notifications controller's, for its webhooks): it reads the final
    // phase from the status, so write it there before letting go.
    if (task.metadata.finalizers.some((finalizer) => finalizer !== finalizerName) && task.status?.phase !== final.phase) {
      await this.writeStatus(task, final);
    }
    // Postgres has every event now; the stream goes, so a task made again under
    // the same name starts a stream of its own.
    const { events, persisted } = workloadStreamKeys('task', task.metadata.namespace ?? '', task.metadata.name ?? '');
    await this.deps.redis.del(events, persisted);
    await this.removeFinalizer(task);
    return {};
  }

  private async readEvents(task: ClaudeTask): Promise<TaskEventRecord[]> {
    const key = workloadStreamKeys('task', task.metadata.namespace ?? '', task.metadata.name ?? '').events;
    const events: TaskEventRecord[] = [];
    let start = '-';
    for (;;) {
      const entries = await this.deps.redis.xrange(key, start, '+', 'COUNT', 1000);
      for (const [id, fields] of entries) {
        start = `(${id}`;
        try {
          const entry = parseStreamEntry(id, fields);
          events.push({ seq: entry.seq, type: entry.type, data: entry.data, time: entry.time || new Date().toISOString() });
        } catch (error) {
          // Not written by a runner (no seq, or data that is not JSON): it has no place in the history.
          this.deps.log.warn({ key, id, err: String(error) }, 'skipped a stream entry that is not a task event');
        }
      }
      if (entries.length < 1000) return events;
    }
  }
}

function jobFinished(job: V1Job): boolean {
  return job.status?.conditions?.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True') ?? false;
}

function normalize(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value ?? {}));
}
