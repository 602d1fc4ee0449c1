// A deleted ClaudeSession: its pod is stopped, what its stream still holds is
// copied (the last pod's final events), the record is marked final, the
// session's Redis keys and runner user go, the PVC the operator made goes
// (unless retain); only then is the finalizer removed.
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { claudeSessionPlural, type ClaudeSession } from '../../../crds/src/claude-session.ts';
import { group, version } from '../../../crds/src/claude-task.ts';
import { parseStreamEntry, workloadStreamKeys } from '../../../packages/contracts/src/event-stream.ts';
import { sessionAnsweredKey, sessionInboxKey, sessionTranscriptKey } from '../../../packages/contracts/src/session-stream.ts';
import type { TaskEventRecord } from '../../../packages/contracts/src/task-events.ts';
import { markSessionFinalized, maxSessionEventSeq, readSessionRecord } from '../../../packages/database/src/session-records.ts';
import { statusCode } from '../../../packages/platform/src/kube-errors.ts';
import type { ReconcileResult } from '../manager.ts';
import { sessionFinalizerName, sessionJobName } from '../names.ts';
import { operatorMakesPvc, workspacePvcName } from './desired-session.ts';
import { sessionCopyTarget } from './session-copier.ts';
import type { SessionReconcilerDeps } from './session-reconciler.ts';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export async function finalizeSession(deps: SessionReconcilerDeps, session: ClaudeSession): Promise<ReconcileResult> {
  if (!session.metadata.finalizers?.includes(sessionFinalizerName)) return {};
  const { namespace = '', name = '', uid = '' } = session.metadata;
  const record = await readSessionRecord(deps.db, { uid });
  if (!record?.finalizedAt) {
    const activations = session.status?.activations ?? 0;
    const jobName = sessionJobName(name, activations);
    const job = activations > 0 ? deps.cache.job(namespace, jobName) : undefined;
    if (job && !job.spec?.suspend) {
      await deps.clients.batch.patchNamespacedJob({ name: jobName, namespace, body: { spec: { suspend: true } } }, mergePatch).catch((error: unknown) => {
        if (statusCode(error) !== 404) throw error;
      });
    }
    // The runner writes its last events (runner.session_ended) as it stops.
    const pods = job ? deps.cache.podsOfJob(namespace, jobName) : [];
    if (pods.some((pod) => pod.status?.phase === 'Running' || pod.status?.phase === 'Pending')) return { requeueAfterMs: 1_000 };
    if (record) {
      // Most are there already (the copier); this stores what came after its last pass, with its answers and transcript.
      const events = await unstoredEvents(deps, session);
      if (events.length > 0) await sessionCopyTarget({ db: deps.db }).recordEvents({ namespace, name, uid }, events, deps.redis);
      await markSessionFinalized(deps.db, uid);
    }
  }
  deps.copier.unfollow(uid);
  // Postgres has every event now; a session made again under the same name starts with keys of its own.
  const { events, persisted } = workloadStreamKeys('session', namespace, name);
  await deps.redis.del(events, persisted, sessionInboxKey(namespace, name), sessionAnsweredKey(namespace, name), sessionTranscriptKey(namespace, name));
  await deps.redisUsers?.removeSession({ uid });
  if (operatorMakesPvc(session) && !session.spec.workspace?.retain) {
    await deps.clients.core.deleteNamespacedPersistentVolumeClaim({ name: workspacePvcName(session), namespace }).catch((error: unknown) => {
      if (statusCode(error) !== 404) throw error;
    });
  }
  await deps.clients.custom.patchNamespacedCustomObject({
    group, version, namespace, plural: claudeSessionPlural, name,
    body: { metadata: { finalizers: session.metadata.finalizers.filter((f) => f !== sessionFinalizerName), resourceVersion: session.metadata.resourceVersion } },
  }, mergePatch).catch((error: unknown) => {
    if (statusCode(error) !== 404) throw error;
  });
  return {};
}

/** The stream's events after the highest seq in Postgres. */
async function unstoredEvents(deps: SessionReconcilerDeps, session: ClaudeSession): Promise<TaskEventRecord[]> {
  const { namespace = '', name = '', uid = '' } = session.metadata;
  const stored = await maxSessionEventSeq(deps.db, uid);
  const key = workloadStreamKeys('session', namespace, name).events;
  const events: TaskEventRecord[] = [];
  let start = '-';
  for (;;) {
    const entries = await deps.redis.xrange(key, start, '+', 'COUNT', 1000);
    for (const [id, fields] of entries) {
      start = `(${id}`;
      try {
        const entry = parseStreamEntry(id, fields);
        if (entry.seq <= stored) continue;
        events.push({ seq: entry.seq, type: entry.type, data: entry.data, time: entry.time || new Date().toISOString(),
          ...(entry.messageId ? { messageId: entry.messageId } : {}) });
      } catch {
        // Not written by a runner: it has no place in the history.
      }
    }
    if (entries.length < 1000) return events;
  }
}
