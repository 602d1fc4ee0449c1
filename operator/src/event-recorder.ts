// Kubernetes Events on a task's transitions, so `kubectl describe ctask` tells
// its story. Best effort and off the reconcile's path, as client-go's recorder
// is: record() queues the Event and returns; a few senders post them in the
// background. A lost Event never fails or slows a reconcile; when the apiserver
// is slower than the Events come, the oldest waiting ones are dropped.
import crypto from 'node:crypto';
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import { claudeTaskKind, group, version, type ClaudeTask } from '../../crds/src/claude-task.ts';

export interface EventRecorderOptions {
  component?: string;
  /** Events posted at once. */
  senders?: number;
  /** Events waiting at most; beyond, the oldest are dropped. */
  maxWaiting?: number;
  onDropped?(count: number): void;
}

interface Waiting {
  namespace: string;
  body: CoreV1Event;
}

export class EventRecorder {
  private readonly core: Pick<CoreV1Api, 'createNamespacedEvent'>;
  private readonly component: string;
  private readonly senders: number;
  private readonly maxWaiting: number;
  private readonly onDropped: ((count: number) => void) | undefined;
  private readonly waiting: Waiting[] = [];
  private sending = 0;
  private idle: Array<() => void> = [];

  constructor(core: Pick<CoreV1Api, 'createNamespacedEvent'>, options: EventRecorderOptions = {}) {
    this.core = core;
    this.component = options.component ?? 'claude-operator';
    this.senders = options.senders ?? 2;
    this.maxWaiting = options.maxWaiting ?? 1000;
    this.onDropped = options.onDropped;
  }

  /** An Event on a task, or on another of the operator's kinds (`kind`). */
  record(task: Pick<ClaudeTask, 'metadata'>, type: 'Normal' | 'Warning', reason: string, message: string, kind: string = claudeTaskKind): void {
    const now = new Date();
    const namespace = task.metadata.namespace ?? 'default';
    this.waiting.push({
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
    });
    const excess = this.waiting.length - this.maxWaiting;
    if (excess > 0) {
      this.waiting.splice(0, excess);
      this.onDropped?.(excess);
    }
    while (this.sending < this.senders && this.waiting.length > 0) void this.send();
  }

  /** Resolves once every Event recorded so far was posted (or failed). */
  async flush(): Promise<void> {
    if (this.sending === 0 && this.waiting.length === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private async send(): Promise<void> {
    this.sending++;
    try {
      for (let next = this.waiting.shift(); next; next = this.waiting.shift()) {
        await this.core.createNamespacedEvent(next).catch(() => undefined);
      }
    } finally {
      this.sending--;
      if (this.sending === 0 && this.waiting.length === 0) for (const resolve of this.idle.splice(0)) resolve();
    }
  }
}
