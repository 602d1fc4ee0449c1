// The notifications controller: when a task with spec.notify is in a terminal
// phase, it delivers the task's CloudEvent to each of its webhooks, records every
// attempt in Postgres and shows the delivery in status.notifications. What to do
// is decided by decide() from the task and the recorded attempts; this file only
// carries it out, so a pass that runs twice sends nothing a recorded attempt
// has settled. Keyed by task; it watches the tasks cache and requeues itself
// for the next retry.
//
// Deletion: a task with webhooks carries the notify finalizer from its first
// pass here until its deliveries are settled, so a task deleted just after it
// ends, or while it runs (the task reconciler then writes its final status
// before letting go), still sends its event. A deleted task's pending
// deliveries are given up WEBHOOK_DELETE_GRACE_SECONDS after the delete; the
// attempts stay in Postgres.
import { isDeepStrictEqual } from 'node:util';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { claudeTaskPlural, group, terminalPhases, version, type ClaudeTask } from '../../../crds/src/claude-task.ts';
import type { NotificationStatus, Webhook } from '../../../crds/src/notify.ts';
import type { WebhookAttempt } from '../../../packages/database/src/webhook-attempts.ts';
import { statusCode } from '../../../packages/platform/src/kube-errors.ts';
import type { Clock } from '../../../packages/platform/src/clock.ts';
import type { KubeClients } from '../kube-clients.ts';
import type { Logger } from '../kube/logger.ts';
import type { ControllerDefinition, ReconcileResult } from '../manager.ts';
import type { OperatorConfig } from '../config.ts';
import { notifyFinalizerName } from '../names.ts';
import { ownKey } from '../watch-keys.ts';
import { refusedWebhookUrl } from './address-policy.ts';
import { signatureHeaders, taskFinishedEvent } from './cloud-event.ts';
import { decide, outcomeOf, type RetryPolicy, type WebhookPlan } from './decide.ts';
import { postEvent, type DeliveryResult } from './deliver.ts';

export const notificationsControllerName = 'notifications';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

type Settings = Pick<OperatorConfig, 'WEBHOOK_ALLOW_PRIVATE_ADDRESSES' | 'WEBHOOK_DELIVERY_TIMEOUT_SECONDS' | 'WEBHOOK_RETRY_INITIAL_SECONDS'
  | 'WEBHOOK_RETRY_MAX_SECONDS' | 'WEBHOOK_RETRY_FOR_SECONDS' | 'WEBHOOK_DELETE_GRACE_SECONDS' | 'API_BASE_URL'>;

export interface NotificationsDeps {
  tasks: { task(namespace: string, name: string): ClaudeTask | undefined };
  store: {
    webhookAttempts(taskUid: string): Promise<WebhookAttempt[]>;
    recordWebhookAttempt(attempt: WebhookAttempt): Promise<boolean>;
  };
  clients: Pick<KubeClients, 'core' | 'custom'>;
  config: Settings;
  clock: Pick<Clock, 'now'>;
  log: Logger;
  onAttempt?: (outcome: WebhookAttempt['outcome']) => void;
}

export class NotificationsReconciler {
  private readonly deps: NotificationsDeps;
  private readonly policy: RetryPolicy;

  constructor(deps: NotificationsDeps) {
    this.deps = deps;
    const { config } = deps;
    this.policy = {
      initialMs: config.WEBHOOK_RETRY_INITIAL_SECONDS * 1000, maxMs: config.WEBHOOK_RETRY_MAX_SECONDS * 1000, retryForMs: config.WEBHOOK_RETRY_FOR_SECONDS * 1000,
    };
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const [namespace = '', name = ''] = key.split('/');
    const task = this.deps.tasks.task(namespace, name);
    const uid = task?.metadata.uid;
    const phase = task?.status?.phase;
    const webhooks = task?.spec.notify?.webhooks;
    if (!task || !uid) return;
    const holds = task.metadata.finalizers?.includes(notifyFinalizerName) ?? false;
    const deletedAt = task.metadata.deletionTimestamp === undefined ? undefined : Date.parse(String(task.metadata.deletionTimestamp));
    if (!webhooks?.length) return holds ? this.letGo(task) : undefined;
    if (!holds && deletedAt === undefined) return this.hold(task);
    const graceLeftMs = deletedAt === undefined ? undefined : deletedAt + this.deps.config.WEBHOOK_DELETE_GRACE_SECONDS * 1000 - this.deps.clock.now();
    if (!phase || !terminalPhases.has(phase)) {
      // Deleted while it runs: the task reconciler writes the final status before it lets go; wait for it, a while.
      if (graceLeftMs === undefined) return;
      if (graceLeftMs > 0) return { requeueAfterMs: Math.min(graceLeftMs, 1_000) };
      this.deps.log.warn({ task: key }, 'deleted task never reached a final phase within WEBHOOK_DELETE_GRACE_SECONDS: no webhook sent');
      return holds ? this.letGo(task) : undefined;
    }
    const finished = { uid, phase, webhooks };
    let plan = decide(finished, await this.deps.store.webhookAttempts(uid), this.deps.clock.now(), this.policy);
    const due = plan.webhooks.filter((webhook) => webhook.due);
    if (due.length > 0) {
      const body = JSON.stringify(taskFinishedEvent(task, due[0]!.eventId, this.deps.config.API_BASE_URL));
      await Promise.all(due.map((webhook) => this.attempt(task, webhooks[webhook.index]!, webhook, body)));
      plan = decide(finished, await this.deps.store.webhookAttempts(uid), this.deps.clock.now(), this.policy);
    }
    await this.writeStatus(task, plan.webhooks.map((webhook) => webhook.status));
    const pending = plan.webhooks.filter((webhook) => webhook.status.state === 'Pending').length;
    if (pending === 0) return holds ? this.letGo(task) : undefined;
    if (graceLeftMs !== undefined && graceLeftMs <= 0) {
      this.deps.log.warn({ task: key, pending }, 'deleted task: webhook deliveries still pending after WEBHOOK_DELETE_GRACE_SECONDS given up');
      return holds ? this.letGo(task) : undefined;
    }
    const next = plan.requeueAfterMs;
    const wait = graceLeftMs === undefined ? next : Math.min(next ?? graceLeftMs, graceLeftMs);
    return wait === undefined ? undefined : { requeueAfterMs: wait };
  }

  /** Adds the notify finalizer; the watch brings the task back for delivery. */
  private async hold(task: ClaudeTask): Promise<void> {
    await this.patchFinalizers(task, [...(task.metadata.finalizers ?? []), notifyFinalizerName]);
  }

  private async letGo(task: ClaudeTask): Promise<void> {
    await this.patchFinalizers(task, (task.metadata.finalizers ?? []).filter((finalizer) => finalizer !== notifyFinalizerName));
  }

  /** With the resourceVersion read, so a finalizer another controller changed meanwhile is not overwritten (409: retried). */
  private async patchFinalizers(task: ClaudeTask, finalizers: string[]): Promise<void> {
    try {
      await this.deps.clients.custom.patchNamespacedCustomObject({
        group, version, namespace: task.metadata.namespace ?? '', plural: claudeTaskPlural, name: task.metadata.name ?? '',
        body: { metadata: { finalizers, resourceVersion: task.metadata.resourceVersion } },
      }, mergePatch);
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
    }
  }

  private async attempt(task: ClaudeTask, webhook: Webhook, plan: WebhookPlan, body: string): Promise<void> {
    const startedAt = new Date(this.deps.clock.now());
    const result = await this.send(task, webhook, plan, body);
    const outcome = result.refused ? 'failed' : outcomeOf(result.responseCode);
    const recorded = await this.deps.store.recordWebhookAttempt({
      taskUid: task.metadata.uid ?? '', webhookIndex: plan.index, url: plan.shownUrl, eventId: plan.eventId, attempt: plan.attempt,
      startedAt, finishedAt: new Date(this.deps.clock.now()), outcome,
      ...(result.responseCode === undefined ? {} : { responseCode: result.responseCode }), ...(result.error ? { error: result.error } : {}),
    });
    this.deps.onAttempt?.(outcome);
    this.deps.log.info({
      task: `${task.metadata.namespace}/${task.metadata.name}`, webhook: plan.index, url: plan.shownUrl, attempt: plan.attempt, outcome,
      responseCode: result.responseCode, error: result.error, recorded,
    }, 'webhook attempt');
  }

  private async send(task: ClaudeTask, webhook: Webhook, plan: WebhookPlan, body: string): Promise<DeliveryResult> {
    const { config } = this.deps;
    const refused = refusedWebhookUrl(webhook.url, config.WEBHOOK_ALLOW_PRIVATE_ADDRESSES);
    if (refused) return { refused: true, error: `webhook URL refused: ${plan.shownUrl} ${refused}` };
    let key: Buffer | undefined;
    if (webhook.secretRef) {
      const { name, key: field } = webhook.secretRef;
      try {
        const secret = await this.deps.clients.core.readNamespacedSecret({ name, namespace: task.metadata.namespace ?? '' });
        const value = secret.data?.[field];
        if (value === undefined) return { error: `Secret ${name} has no key ${field}` };
        key = Buffer.from(value, 'base64');
      } catch (error) {
        if (statusCode(error) === 404) return { error: `Secret ${name} not found` };
        throw error;
      }
    }
    const headers = signatureHeaders(plan.eventId, body, Math.floor(this.deps.clock.now() / 1000), key);
    return postEvent(webhook.url, body, headers, {
      timeoutMs: config.WEBHOOK_DELIVERY_TIMEOUT_SECONDS * 1000, allowPrivateAddresses: config.WEBHOOK_ALLOW_PRIVATE_ADDRESSES,
    });
  }

  private async writeStatus(task: ClaudeTask, notifications: NotificationStatus[]): Promise<void> {
    if (isDeepStrictEqual(notifications, task.status?.notifications ?? [])) return;
    try {
      await this.deps.clients.custom.patchNamespacedCustomObjectStatus({
        group, version, namespace: task.metadata.namespace ?? '', plural: claudeTaskPlural, name: task.metadata.name ?? '',
        body: { status: { notifications } },
      }, mergePatch);
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
    }
  }
}

export function notificationsController(
  cache: { tasks: ControllerDefinition['watches'][number]['source'] }, reconciler: Pick<NotificationsReconciler, 'reconcile'>, workers: number,
): ControllerDefinition {
  return {
    name: notificationsControllerName,
    workers,
    reconcile: (key) => reconciler.reconcile(key),
    watches: [{ source: cache.tasks, keysOf: ownKey }],
  };
}
