// ClaudeSessions through the Kubernetes API (kube/custom-objects.ts).
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { claudeSessionKind, claudeSessionPlural, type ClaudeSession, type ClaudeSessionSpec } from '../../../crds/src/claude-session.ts';
import { KubeCustomObjects, type ObjectStoreApi } from '../kube/custom-objects.ts';
import type { Actors } from '../kube/impersonation.ts';

export type SessionStoreApi = ObjectStoreApi<ClaudeSession, ClaudeSessionSpec>;

export class KubeSessions extends KubeCustomObjects<ClaudeSession, ClaudeSessionSpec> implements SessionStoreApi {
  constructor(custom: CustomObjectsApi, actors?: Actors) {
    super(custom, { kind: claudeSessionKind, plural: claudeSessionPlural, generateName: 'session-' }, actors);
  }
}
