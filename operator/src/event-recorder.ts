// Kubernetes Events on a task's transitions, so `kubectl describe ctask` tells
// its story. Best effort: a lost Event never fails a reconcile.
import crypto from 'node:crypto';
import type { CoreV1Api } from '@kubernetes/client-node';
import { claudeTaskKind, group, version, type ClaudeTask } from '../../crds/src/claude-task.ts';

export class EventRecorder {
  private readonly core: CoreV1Api;
  private readonly component: string;

  constructor(core: CoreV1Api, component = 'claude-operator') {
    this.core = core;
    this.component = component;
  }

  /** An Event on a task, or on another of the operator's kinds (`kind`). */
  async record(task: Pick<ClaudeTask, 'metadata'>, type: 'Normal' | 'Warning', reason: string, message: string, kind: string = claudeTaskKind): Promise<void> {
    const now = new Date();
    const namespace = task.metadata.namespace ?? 'default';
    await this.core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { name: `${task.metadata.name}.${crypto.randomBytes(8).toString('hex')}`, namespace },
        involvedObject: {
          apiVersion: `${group}/${version}`, kind, name: task.metadata.name,
          namespace, uid: task.metadata.uid,
        },
        type, reason, message: message.slice(0, 1024),
        source: { component: this.component },
        firstTimestamp: now, lastTimestamp: now, count: 1,
        reportingComponent: this.component, reportingInstance: this.component,
      },
    }).catch(() => undefined);
  }
}
