// The session controller on the bed's real apiserver, Postgres and Redis, run
// in-process as main.ts wires it (caches, manager, wake channel, copier): a new
// ClaudeSession gets its PVC, spec Secret and Job `<name>-1` with the session's
// pod; spec.suspend stops it (Suspended); a message accepted while Suspended and
// a wake on sessionWakeChannel start activation 2 with Redis prepared from
// Postgres; deleting it stops the Job, finalizes the record and drops its Redis keys.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type V1Job } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import pg from 'pg';
import { pino } from 'pino';
import { installCrds } from '../../../crds/src/install.ts';
import type { ClaudeSession } from '../../../crds/src/claude-session.ts';
import { podEnv, sessionVolume } from '../../../packages/contracts/src/pod-contract.ts';
import { workloadStreamKeys } from '../../../packages/contracts/src/event-stream.ts';
import { sessionInboxKey, sessionTranscriptKey, sessionWakeChannel, sessionWakeMessage, parseInboxEntry } from '../../../packages/contracts/src/session-stream.ts';
import { migrate } from '../../../packages/database/src/migrate.ts';
import { acceptMessage, readSessionRecord, writeSessionEvents } from '../../../packages/database/src/session-records.ts';
import { bedSetting, createTestNamespace, kubeConfig, waitFor, type TestNamespace } from '../../../test/support/cluster.ts';
import { ClusterCache } from '../cluster-cache.ts';
import { parseOperatorConfig } from '../config.ts';
import { EventCopier } from '../event-copier.ts';
import { EventRecorder } from '../event-recorder.ts';
import { makeKubeClients } from '../kube-clients.ts';
import { Manager } from '../manager.ts';
import { OperatorMetrics } from '../metrics.ts';
import { RunnerRedisUsers } from '../runner-redis-users.ts';
import { SessionWakeSource, sessionController, sessionControllerName } from './session-controller.ts';
import { sessionCopyTarget } from './session-copier.ts';
import { SessionReconciler } from './session-reconciler.ts';

const log = pino({ level: process.env.SESSION_TEST_LOG ?? 'silent' });
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
let ns: TestNamespace;
let db: pg.Pool;
let redis: Redis;
let manager: Manager;
let copier: EventCopier;
const custom = () => kubeConfig().makeApiClient(CustomObjectsApi);
const api = { group: 'claude-operator.io', version: 'v1alpha1', plural: 'claudesessions' };

beforeAll(async () => {
  await installCrds(kubeConfig());
  await migrate(bedSetting('DATABASE_URL'));
  ns = await createTestNamespace('sessions');
  // Without it the pod waits on a missing Secret, which fails the session for good.
  await ns.core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: 'anthropic-api-key' }, stringData: { 'api-key': 'unused' } } });
  db = new pg.Pool({ connectionString: bedSetting('DATABASE_URL'), max: 5 });
  redis = new Redis(bedSetting('REDIS_URL'));
  const config = parseOperatorConfig({
    DATABASE_URL: bedSetting('DATABASE_URL'), REDIS_URL: bedSetting('REDIS_URL'), RUNNER_REDIS_ACL_SECRET: randomBytes(32).toString('hex'),
    WATCH_NAMESPACE: ns.name, RUNNER_IMAGE: 'ghcr.io/claude-operator/runner:dev',
  });
  const clients = makeKubeClients(kubeConfig());
  const cache = new ClusterCache({ kubeConfig: clients.config, logger: log, watchNamespace: ns.name });
  const wake = new SessionWakeSource({ redisUrl: config.REDIS_URL, log });
  manager = new Manager({ caches: [cache, wake], metrics: new OperatorMetrics(), log });
  copier = new EventCopier({
    redisUrl: config.REDIS_URL, logger: log, blockMs: 200,
    target: sessionCopyTarget({ db, onStatusEvent: ({ namespace, name }) => manager.enqueue(sessionControllerName, `${namespace}/${name}`) }),
  });
  const reconciler = new SessionReconciler({
    clients, cache, db, redis, config, log, recorder: new EventRecorder(clients.core), copier,
    redisUsers: new RunnerRedisUsers({ redis, secret: config.RUNNER_REDIS_ACL_SECRET!, runnerRedisUrl: config.RUNNER_REDIS_URL }),
  });
  manager.add(sessionController(cache, wake, reconciler, 4));
  await manager.start();
}, 120_000);

afterAll(async () => {
  await manager?.stop();
  await copier?.close();
  redis?.disconnect();
  await db?.end();
  await ns?.delete();
});

async function getSession(name: string): Promise<ClaudeSession | undefined> {
  return await custom().getNamespacedCustomObject({ ...api, namespace: ns.name, name }).catch(() => undefined) as ClaudeSession | undefined;
}

async function sessionWhen(name: string, what: string, check: (session: ClaudeSession) => boolean): Promise<ClaudeSession> {
  let last: ClaudeSession | undefined;
  await waitFor(`session ${name}: ${what}`, async () => {
    last = await getSession(name);
    return last !== undefined && check(last);
  }, { timeoutMs: 60_000 }).catch(async (error: Error) => {
    const jobs = await ns.batch.listNamespacedJob({ namespace: ns.name });
    const pods = await ns.core.listNamespacedPod({ namespace: ns.name });
    throw new Error(`${error.message}\nlast status: ${JSON.stringify(last?.status)}\njobs: ${JSON.stringify(jobs.items.map((j) => [j.metadata?.name, j.spec?.suspend, j.status]))}`
      + `\npods: ${JSON.stringify(pods.items.map((p) => [p.metadata?.name, p.status?.phase, p.status?.containerStatuses?.[0]?.state]))}`);
  });
  return last!;
}

async function jobWhen(name: string, what: string, check: (job: V1Job) => boolean): Promise<V1Job> {
  let last: V1Job | undefined;
  await waitFor(`Job ${name}: ${what}`, async () => {
    last = await ns.batch.readNamespacedJob({ name, namespace: ns.name }).catch(() => undefined);
    return last !== undefined && check(last);
  }, { timeoutMs: 60_000 });
  return last!;
}

describe('session controller', () => {
  const name = `chat-${randomBytes(3).toString('hex')}`;

  it('makes the PVC, the spec Secret and Job <name>-1 with the session\'s pod, and says Starting', async () => {
    await custom().createNamespacedCustomObject({ ...api, namespace: ns.name,
      body: { apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeSession', metadata: { name }, spec: { idleTimeoutSeconds: 60, workspace: { size: '2Gi' } } } });
    const job = await jobWhen(`${name}-1`, 'created', () => true);
    const session = await sessionWhen(name, 'Starting', (s) => s.status?.phase === 'Starting');
    expect(session.metadata.finalizers).toContain('claude-operator.io/session-history');
    expect(session.status).toMatchObject({ activations: 1, jobName: `${name}-1`, workspacePVC: `${name}-session`, claudeSessionId: session.metadata.uid });

    const pvc = await ns.core.readNamespacedPersistentVolumeClaim({ name: `${name}-session`, namespace: ns.name });
    expect(pvc.spec?.resources?.requests?.storage).toBe('2Gi');
    expect(pvc.metadata?.ownerReferences?.[0]?.uid).toBe(session.metadata.uid);
    const secret = await ns.core.readNamespacedSecret({ name: `${name}-1-spec`, namespace: ns.name });
    expect(JSON.parse(Buffer.from(secret.data!['spec.json']!, 'base64').toString())).toMatchObject({ idleTimeoutSeconds: 60 });
    expect(Buffer.from(secret.data!['redis-url']!, 'base64').toString()).toContain(`claude-session-${session.metadata.uid}`);

    const pod = job.spec!.template.spec!;
    const env = Object.fromEntries((pod.containers[0]!.env ?? []).map((v) => [v.name, v.value]));
    expect(env).toMatchObject({ [podEnv.runnerMode]: 'session', [podEnv.sessionName]: name, [podEnv.claudeSessionId]: session.metadata.uid });
    expect(pod.volumes).toContainEqual({ name: 'session', persistentVolumeClaim: { claimName: `${name}-session` } });
    expect(pod.containers[0]!.volumeMounts).toContainEqual({ name: 'session', mountPath: sessionVolume.mountPath });
    // Postgres has the record, so its events can be stored.
    expect((await readSessionRecord(db, { uid: session.metadata.uid! }))?.phase).toBe('Starting');
  });

  it('spec.suspend stops the Job: Suspended', async () => {
    await custom().patchNamespacedCustomObject({ ...api, namespace: ns.name, name, body: { spec: { suspend: true } } }, mergePatch);
    await jobWhen(`${name}-1`, 'suspended', (job) => job.spec?.suspend === true);
    const session = await sessionWhen(name, 'Suspended', (s) => s.status?.phase === 'Suspended');
    expect(session.status?.conditions?.find((c) => c.type === 'Suspended')?.status).toBe('True');
  });

  it('a message accepted while Suspended and a wake start activation 2, with the inbox and transcript put back from Postgres', async () => {
    const session = (await getSession(name))!;
    const uid = session.metadata.uid!;
    // As if Redis had lost them: the transcript of an earlier turn is only in Postgres.
    await writeSessionEvents(db, uid, [{ seq: 1, type: 'runner.started', data: { type: 'runner.started' }, time: new Date().toISOString() }],
      { claudeSessionId: uid, content: '{"earlier":true}\n', throughSeq: 1 });
    await redis.del(sessionInboxKey(ns.name, name), sessionTranscriptKey(ns.name, name), workloadStreamKeys('session', ns.name, name).persisted);
    const messageId = `msg_${randomBytes(16).toString('hex')}`;
    await acceptMessage(db, { sessionUid: uid, messageId, text: 'hello', acceptedAt: new Date().toISOString() });
    await custom().patchNamespacedCustomObject({ ...api, namespace: ns.name, name, body: { spec: { suspend: false } } }, mergePatch);
    await redis.publish(sessionWakeChannel, sessionWakeMessage(ns.name, name));

    await jobWhen(`${name}-2`, 'created', () => true);
    await sessionWhen(name, 'activation 2', (s) => s.status?.activations === 2 && s.status?.jobName === `${name}-2`);
    const inbox = await redis.xrange(sessionInboxKey(ns.name, name), '-', '+');
    expect(inbox.map(([, fields]) => parseInboxEntry(fields)?.messageId)).toEqual([messageId]);
    expect(await redis.get(sessionTranscriptKey(ns.name, name))).toBe('{"earlier":true}\n');
    expect(await redis.get(workloadStreamKeys('session', ns.name, name).persisted)).toBe('1');
  });

  it('deleting it stops the Job, finalizes the record, drops the Redis keys and the session', async () => {
    const uid = (await getSession(name))!.metadata.uid!;
    await custom().deleteNamespacedCustomObject({ ...api, namespace: ns.name, name });
    await waitFor('the session gone', async () => (await getSession(name)) === undefined, { timeoutMs: 90_000 });
    expect((await readSessionRecord(db, { uid }))?.finalizedAt).toBeInstanceOf(Date);
    expect(await redis.exists(sessionInboxKey(ns.name, name), sessionTranscriptKey(ns.name, name), workloadStreamKeys('session', ns.name, name).persisted)).toBe(0);
    expect(await redis.call('ACL', 'GETUSER', `claude-session-${uid}`)).toBeNull();
  });

  it('a session whose API-key Secret is missing is Failed for good, and its Job is stopped', async () => {
    const broken = `nokey-${randomBytes(3).toString('hex')}`;
    await custom().createNamespacedCustomObject({ ...api, namespace: ns.name,
      body: { apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeSession', metadata: { name: broken }, spec: { apiKeySecretRef: { name: 'missing-key' } } } });
    const session = await sessionWhen(broken, 'Failed', (s) => s.status?.phase === 'Failed');
    expect(session.status?.reason).toBe('APIKeySecretMissing');
    expect(session.status?.message).toContain('missing-key');
    await jobWhen(`${broken}-1`, 'stopped', (job) => job.spec?.suspend === true);
    // Stopping the Job does not turn it into Suspended.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await getSession(broken))?.status?.phase).toBe('Failed');
  });
});
