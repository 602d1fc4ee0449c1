// The ClaudeSession controller, as the manager runs it: a change to a session, or
// to a Job or pod the operator made for it, queues the session's key; so does a
// message on sessionWakeChannel (the API publishes "<namespace>/<name>" after it
// accepts a message), so a Suspended session starts its next pod at once; and a
// ClaudePolicy's spec change queues the sessions a spent budget holds, and it and
// a session that stops having a pod queue the sessions maxSessionsPerUser holds.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ClaudeSession } from '../../../crds/src/claude-session.ts';
import { Redis } from 'ioredis';
import { sessionWakeChannel } from '../../../packages/contracts/src/session-stream.ts';
import type { Logger } from '../../../packages/platform/src/logger.ts';
import type { ClusterCache } from '../cluster-cache.ts';
import type { InformerHandlers } from '../kube/informer.ts';
import type { Cache, ControllerDefinition, WatchSource } from '../manager.ts';
import { sessionNameAnnotation } from '../names.ts';
import { generationChanged, keysOfOwner, ownKey } from '../watch-keys.ts';
import type { SessionGate } from '../policy/session-gate.ts';
import type { SessionReconciler } from './session-reconciler.ts';

export const sessionControllerName = 'claudesessions';

/** sessionWakeChannel as a watch: each message is a session's key. A Cache, so the manager starts it with the informers. */
export class SessionWakeSource implements WatchSource<KubernetesObject>, Cache {
  private readonly handlers: Array<InformerHandlers<KubernetesObject>> = [];
  private subscriber: Redis | undefined;
  private readonly options: { redisUrl: string; log: Logger };

  constructor(options: { redisUrl: string; log: Logger }) {
    this.options = options;
  }

  addHandlers(handlers: InformerHandlers<KubernetesObject>): void {
    this.handlers.push(handlers);
  }

  async start(): Promise<void> {
    // A connection of its own: a subscribed connection takes no other command. ioredis subscribes again after a reconnect.
    const subscriber = new Redis(this.options.redisUrl, { connectionName: 'claude-operator-session-wake' });
    this.subscriber = subscriber;
    subscriber.on('error', (error: Error) => this.options.log.debug({ err: error.message }, 'session wake: redis connection error'));
    subscriber.on('message', (_channel: string, message: string) => {
      const [namespace, name, ...rest] = message.split('/');
      if (!namespace || !name || rest.length > 0) return;
      const object: KubernetesObject = { metadata: { namespace, name } };
      for (const handlers of this.handlers) handlers.onAdd?.(object);
    });
    await subscriber.subscribe(sessionWakeChannel);
  }

  async stop(): Promise<void> {
    this.subscriber?.disconnect();
  }
}

function heldByBudget(cache: ClusterCache): string[] {
  return (cache.sessions.list() as unknown as ClaudeSession[])
    .filter((session) => session.status?.reason === 'BudgetExhausted')
    .map((session) => `${session.metadata.namespace}/${session.metadata.name}`);
}

const podlessPhases: ReadonlySet<string> = new Set(['Suspended', 'Queued', 'Failed', 'Archived']);

export function sessionController(cache: ClusterCache, wake: WatchSource<KubernetesObject>, reconciler: Pick<SessionReconciler, 'reconcile'>,
  workers: number, gate?: Pick<SessionGate, 'queuedKeys'>): ControllerDefinition {
  const ownerSessionKey = keysOfOwner({ annotation: sessionNameAnnotation });
  // A session that no longer has a pod (or goes) may make room under maxSessionsPerUser: the Queued ones are looked at.
  const sessionKeys = (object: KubernetesObject) => {
    const session = object as unknown as ClaudeSession;
    const freesRoom = session.metadata.deletionTimestamp !== undefined || podlessPhases.has(session.status?.phase ?? '');
    const queued = freesRoom && gate ? gate.queuedKeys().filter((key) => key !== `${session.metadata.namespace}/${session.metadata.name}`) : [];
    return [...ownKey(object), ...queued];
  };
  return {
    name: sessionControllerName,
    workers,
    reconcile: (key) => reconciler.reconcile(key),
    watches: [
      { source: cache.sessions, keysOf: sessionKeys },
      { source: cache.jobs, keysOf: ownerSessionKey },
      { source: cache.pods, keysOf: ownerSessionKey },
      { source: cache.pvcs, keysOf: ownerSessionKey },
      { source: wake, keysOf: ownKey },
      // A policy's spec change (a budget raised) may free the sessions a spent budget holds.
      { source: cache.policies, keysOf: () => [...heldByBudget(cache), ...(gate?.queuedKeys() ?? [])], updateMatters: generationChanged },
    ] as ControllerDefinition['watches'],
  };
}
