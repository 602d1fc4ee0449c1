// Reconciles one ClaudeSession, by key: gathers the world (caches, Postgres),
// asks decideSession (pure) for the status and the next step, applies it.
//
// Contract (who writes what): the PVC, the spec Secret and the Job of activation n
// are created once and never edited, but for the Job's `suspend`; status.activations
// is written only after its Job exists (a crash in between makes the same Job
// again: a 409); the status goes to Postgres first, then the status subresource;
// the finalizer goes only after every event is in Postgres and the Redis keys are gone.
import { isDeepStrictEqual } from 'node:util';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { claudeSessionPlural, type ClaudeSession, type ClaudeSessionStatus } from '../../../crds/src/claude-session.ts';
import { claudeSessionKind } from '../../../crds/src/claude-session.ts';
import { createdByAnnotation, group, version } from '../../../crds/src/claude-task.ts';
import { seqOfEntry, workloadStreamKeys } from '../../../packages/contracts/src/event-stream.ts';
import { inboxEntryFields, sessionInboxKey, sessionTranscriptKey } from '../../../packages/contracts/src/session-stream.ts';
import {
  failWaitingMessages, maxSessionEventSeq, readSessionTotalsAndLastEvent, readTranscript, readWaitingMessages, writeSessionStatus,
} from '../../../packages/database/src/session-records.ts';
import { statusCode } from '../../../packages/platform/src/kube-errors.ts';
import type { Logger } from '../../../packages/platform/src/logger.ts';
import type { ClusterCache } from '../cluster-cache.ts';
import type { OperatorConfig } from '../config.ts';
import type { EventCopier } from '../event-copier.ts';
import type { EventRecorder } from '../event-recorder.ts';
import { asPermanentApiError, type KubeClients } from '../kube-clients.ts';
import type { ReconcileResult } from '../manager.ts';
import { sessionFinalizerName, sessionJobName, specSecretNameFor } from '../names.ts';
import type { RunnerRedisUsers } from '../runner-redis-users.ts';
import type { ConcurrencyGate } from '../policy/concurrency-gate.ts';
import type { SessionGate } from '../policy/session-gate.ts';
import { desiredSessionJob, desiredSessionPvc, desiredSessionSecret, operatorMakesPvc, workspacePvcName } from './desired-session.ts';
import { finalizeSession } from './session-finalizer.ts';
import { decideSession, lifecycleEventTypes, queuedStatus, type ObservedSession } from './session-status.ts';

export interface SessionReconcilerDeps {
  clients: KubeClients;
  cache: Pick<ClusterCache, 'session' | 'job' | 'podsOfJob' | 'pvc'>;
  db: pg.Pool;
  /** The operator's Redis connection (not the copier's blocking one). */
  redis: Redis;
  recorder: EventRecorder;
  copier: Pick<EventCopier, 'follow' | 'unfollow'>;
  redisUsers?: Pick<RunnerRedisUsers, 'ensureSession' | 'removeSession'> | undefined;
  /** The ClaudePolicies' budgets; without it no budget holds a session. */
  budgets?: Pick<ConcurrencyGate, 'budgetFor'> | undefined;
  /** The ClaudePolicies' maxSessionsPerUser: an activation's Job is created only through it, when given. */
  sessionGate?: Pick<SessionGate, 'admit'> | undefined;
  config: OperatorConfig;
  log: Logger;
  now?: () => Date;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** A session with a pod is looked at again at least this often, whatever the watches say. */
const activeResyncMs = 30_000;
/** A session a spent budget holds is looked at again this often (the period may reset); a policy change wakes it at once. */
const budgetResyncMs = 60_000;
/** A Queued session is woken when room frees up (session-controller.ts); this is the fallback. */
const queuedResyncMs = 30_000;

export class SessionReconciler {
  private readonly deps: SessionReconcilerDeps;

  constructor(deps: SessionReconcilerDeps) {
    this.deps = deps;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace = '', name = ''] = key.split('/');
    let session = this.deps.cache.session(namespace, name);
    if (!session) return {};
    if (session.metadata.deletionTimestamp) return finalizeSession(this.deps, session);
    if (!session.metadata.finalizers?.includes(sessionFinalizerName)) session = await this.setFinalizers(session, [...(session.metadata.finalizers ?? []), sessionFinalizerName]);
    const identity = { namespace, name, uid: session.metadata.uid ?? '' };

    const observed = await this.observe(session);
    const decision = decideSession(observed);
    let status = decision.status;
    if (decision.ensurePvc) await this.createPvc(session);
    const { action } = decision;
    if (action.type === 'activate') {
      const activate = () => this.activate(session, action.activation);
      const admission = this.deps.sessionGate
        ? await this.deps.sessionGate.admit(session, action.activation, activate)
        : { admit: true as const, started: await activate() };
      if (!admission.admit) status = queuedStatus(observed, admission.message);
      else if (!admission.started) return { requeueAfterMs: 500 };
      else status = { ...status, activations: action.activation, jobName: sessionJobName(name, action.activation) };
    } else if (action.type === 'stop') {
      await this.stopJob(session);
    } else if (action.type === 'archive') {
      await this.deletePvc(session);
      this.deps.copier.unfollow(identity.uid);
    }
    const podless = status.phase === 'Suspended' || status.phase === 'Queued';
    if (podless || status.phase === 'Archived') await this.deleteEndedPods(session);
    try {
      await this.writeStatus(session, status);
    } catch (error) {
      if (statusCode(error) === 409) return { requeueAfterMs: 200 };
      throw error;
    }

    const active = status.phase === 'Pending' || status.phase === 'Starting' || status.phase === 'Ready' || status.phase === 'Busy';
    if (active) {
      // After writeStatus: the session's record exists, so its events can be stored.
      this.deps.copier.follow(identity);
      await this.deps.redisUsers?.ensureSession(identity);
      return { requeueAfterMs: activeResyncMs };
    }
    // Suspended, Queued or Failed: its stream is quiet. The copier keeps following until it has every event (the last pod's end).
    const quiet = podless || status.phase === 'Failed';
    const copied = quiet && (await this.streamCopied(session));
    if (!quiet || copied) this.deps.copier.unfollow(identity.uid);
    else this.deps.copier.follow(identity);
    if (decision.failWaiting !== undefined) {
      // An answer the last pod wrote may still be on its way to Postgres: it comes first.
      if (status.phase === 'Failed' && !copied) return { requeueAfterMs: 1_000 };
      const failed = await failWaitingMessages(this.deps.db, identity.uid, decision.failWaiting, this.deps.now?.() ?? new Date());
      if (failed.length > 0) this.deps.log.info({ session: key, messages: failed, phase: status.phase }, 'waiting messages failed: the session closed');
    }
    if (status.phase === 'Queued') return { requeueAfterMs: queuedResyncMs };
    if (status.reason === 'BudgetExhausted') return { requeueAfterMs: Math.min(decision.requeueAfterMs ?? budgetResyncMs, budgetResyncMs) };
    return decision.requeueAfterMs === undefined ? {} : { requeueAfterMs: decision.requeueAfterMs };
  }

  private async observe(session: ClaudeSession): Promise<ObservedSession> {
    const namespace = session.metadata.namespace ?? '';
    const uid = session.metadata.uid ?? '';
    const activations = session.status?.activations ?? 0;
    const jobName = activations > 0 ? sessionJobName(session.metadata.name ?? '', activations) : undefined;
    const job = jobName ? this.deps.cache.job(namespace, jobName) : undefined;
    const { totals, lastEvent } = await readSessionTotalsAndLastEvent(this.deps.db, uid, lifecycleEventTypes);
    // Sessions are charged to their creator where the apiserver stamped one (as tasks are), else only to the namespace.
    const budget = await this.deps.budgets?.budgetFor(namespace, session.metadata.annotations?.[createdByAnnotation]);
    return {
      ...(budget && !budget.admit ? { budgetSpent: { message: budget.message } } : {}),
      session, job, pods: job && jobName ? this.deps.cache.podsOfJob(namespace, jobName) : [],
      pvcExists: !operatorMakesPvc(session) || this.deps.cache.pvc(namespace, workspacePvcName(session)) !== undefined,
      totals,
      lastLifecycleEvent: lastEvent,
      now: this.deps.now?.() ?? new Date(),
      defaultModel: this.deps.config.DEFAULT_MODEL,
    };
  }

  /** Redis made ready for a new pod, then its Secret and Job; false when the Job exists already (the cache is behind). */
  private async activate(session: ClaudeSession, activation: number): Promise<boolean> {
    const namespace = session.metadata.namespace ?? '';
    const identity = { namespace, name: session.metadata.name ?? '', uid: session.metadata.uid ?? '' };
    await this.createPvc(session);
    await this.prepareRedis(session);
    const credentials = await this.deps.redisUsers?.ensureSession(identity);
    const secret = desiredSessionSecret(session, activation, this.deps.config, credentials?.url);
    await this.deps.clients.core.createNamespacedSecret({ namespace, body: secret }).catch((error: unknown) => {
      if (statusCode(error) !== 409) throw asPermanentApiError(error, `creating Secret ${secret.metadata?.name}`);
    });
    const job = desiredSessionJob(session, activation, this.deps.config);
    try {
      await this.deps.clients.batch.createNamespacedJob({ namespace, body: job });
    } catch (error) {
      if (statusCode(error) !== 409) throw asPermanentApiError(error, `creating Job ${job.metadata?.name}`);
      // Made by an earlier pass whose status write did not land: this activation is it, once the cache has it.
      const existing = this.deps.cache.job(namespace, job.metadata?.name ?? '');
      return existing?.metadata?.ownerReferences?.some((o) => o.uid === session.metadata.uid) ?? false;
    }
    this.deps.log.info({ session: `${namespace}/${session.metadata.name}`, job: job.metadata?.name, activation }, 'session activated');
    if (activation > 1) await this.deletePreviousActivation(session, activation - 1);
    this.deps.recorder.record(session, 'Normal', 'Activated', `created Job ${job.metadata?.name}`, claudeSessionKind);
    return true;
  }

  /** What a Redis that lost the session's keys must hold again before a pod starts: the transcript, the waiting messages, the persisted seq. */
  private async prepareRedis(session: ClaudeSession): Promise<void> {
    const { namespace = '', name = '', uid = '' } = session.metadata;
    const { redis, db } = this.deps;
    const transcriptKey = sessionTranscriptKey(namespace, name);
    if (!(await redis.exists(transcriptKey))) {
      const transcript = await readTranscript(db, uid);
      if (transcript) await redis.set(transcriptKey, transcript.content, 'NX');
    }
    const inbox = sessionInboxKey(namespace, name);
    if (!(await redis.exists(inbox))) {
      const waiting = await readWaitingMessages(db, uid);
      for (const message of waiting) {
        await redis.xadd(inbox, '*', ...inboxEntryFields({ messageId: message.messageId, text: message.text, acceptedAt: message.acceptedAt }));
      }
    }
    // The runner numbers its events on after this (the copier writes it as it copies).
    await redis.set(workloadStreamKeys('session', namespace, name).persisted, String(await maxSessionEventSeq(db, uid)), 'NX');
  }

  private async createPvc(session: ClaudeSession): Promise<void> {
    const pvc = desiredSessionPvc(session);
    if (!pvc) return;
    await this.deps.clients.core.createNamespacedPersistentVolumeClaim({ namespace: session.metadata.namespace ?? '', body: pvc }).catch((error: unknown) => {
      if (statusCode(error) !== 409) throw asPermanentApiError(error, `creating PersistentVolumeClaim ${pvc.metadata?.name}`);
    });
  }

  private async deletePvc(session: ClaudeSession): Promise<void> {
    if (!operatorMakesPvc(session) || session.spec.workspace?.retain) return;
    await this.deps.clients.core.deleteNamespacedPersistentVolumeClaim({ name: workspacePvcName(session), namespace: session.metadata.namespace ?? '' })
      .catch((error: unknown) => {
        if (statusCode(error) !== 404) throw error;
      });
  }

  private async stopJob(session: ClaudeSession): Promise<void> {
    const activations = session.status?.activations ?? 0;
    if (activations === 0) return;
    const name = sessionJobName(session.metadata.name ?? '', activations);
    await this.deps.clients.batch.patchNamespacedJob({ name, namespace: session.metadata.namespace ?? '', body: { spec: { suspend: true } } }, mergePatch)
      .catch((error: unknown) => {
        if (statusCode(error) !== 404) throw error;
      });
  }

  /**
   * An ended pod of a Suspended session still counts as using its PVC (the PVC
   * protection controller lets a claim go only once no pod names it), and the
   * Job keeps it: it goes, so that the volume can be deleted or moved while the
   * session sleeps. Its events are in Postgres; `kubectl logs` of it goes with it.
   */
  private async deleteEndedPods(session: ClaudeSession): Promise<void> {
    const namespace = session.metadata.namespace ?? '';
    const activations = session.status?.activations ?? 0;
    if (activations === 0) return;
    const ended = this.deps.cache.podsOfJob(namespace, sessionJobName(session.metadata.name ?? '', activations))
      .filter((pod) => (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') && !pod.metadata?.deletionTimestamp);
    for (const pod of ended) {
      await this.deps.clients.core.deleteNamespacedPod({ name: pod.metadata?.name ?? '', namespace }).catch((error: unknown) => {
        if (statusCode(error) !== 404) throw error;
      });
    }
  }

  /** The Job (with its pods) and spec Secret of the activation before: a session woken often leaves no trail of them. */
  private async deletePreviousActivation(session: ClaudeSession, activation: number): Promise<void> {
    const namespace = session.metadata.namespace ?? '';
    const jobName = sessionJobName(session.metadata.name ?? '', activation);
    const gone = (error: unknown) => {
      if (statusCode(error) !== 404) throw error;
    };
    await this.deps.clients.batch.deleteNamespacedJob({ name: jobName, namespace, propagationPolicy: 'Background' }).catch(gone);
    await this.deps.clients.core.deleteNamespacedSecret({ name: specSecretNameFor(jobName), namespace }).catch(gone);
  }

  /** Every event in the stream is in Postgres. */
  private async streamCopied(session: ClaudeSession): Promise<boolean> {
    const { namespace = '', name = '' } = session.metadata;
    const keys = workloadStreamKeys('session', namespace, name);
    const persisted = Number(await this.deps.redis.get(keys.persisted) ?? 0);
    const [last] = await this.deps.redis.xrevrange(keys.events, '+', '-', 'COUNT', 1);
    return (last ? seqOfEntry(last[1]) ?? 0 : 0) <= persisted;
  }

  private async setFinalizers(session: ClaudeSession, finalizers: string[]): Promise<ClaudeSession> {
    // resourceVersion in the patch: a concurrent change fails it (409) instead of being overwritten.
    return await this.deps.clients.custom.patchNamespacedCustomObject({
      group, version, namespace: session.metadata.namespace ?? '', plural: claudeSessionPlural, name: session.metadata.name ?? '',
      body: { metadata: { finalizers, resourceVersion: session.metadata.resourceVersion } },
    }, mergePatch) as ClaudeSession;
  }

  /** Postgres first, then the status subresource; both only when something changed. */
  private async writeStatus(session: ClaudeSession, status: ClaudeSessionStatus): Promise<void> {
    if (isDeepStrictEqual(normalize(status), normalize(session.status ?? {}))) return;
    await writeSessionStatus(this.deps.db, session, status);
    // resourceVersion: a pass that read a stale session (the cache behind our own last write) must not
    // overwrite what a later one decided (a Failed with a Suspended); its 409 repeats the pass.
    await this.deps.clients.custom.patchNamespacedCustomObjectStatus({
      group, version, namespace: session.metadata.namespace ?? '', plural: claudeSessionPlural, name: session.metadata.name ?? '',
      body: { metadata: { resourceVersion: session.metadata.resourceVersion }, status: withRemovals(session.status ?? {}, status) },
    }, mergePatch);
    if (status.phase !== session.status?.phase) {
      this.deps.log.info({ session: `${session.metadata.namespace}/${session.metadata.name}`, from: session.status?.phase, to: status.phase, reason: status.reason }, 'phase');
      const warning = status.phase === 'Failed';
      this.deps.recorder.record(session, warning ? 'Warning' : 'Normal', warning ? status.reason ?? 'Failed' : status.phase ?? 'Pending', status.message ?? '', claudeSessionKind);
    }
  }
}

/** A merge patch keeps what it does not name: a field the new status lacks (activeTurn, podName) is removed with null. */
function withRemovals(previous: ClaudeSessionStatus, status: ClaudeSessionStatus): Record<string, unknown> {
  const removed = Object.keys(previous).filter((key) => !(key in status));
  return { ...Object.fromEntries(removed.map((key) => [key, null])), ...status };
}

function normalize(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value ?? {}));
}
