// ClaudeSessions through the Kubernetes API (kube/custom-objects.ts).
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { claudeSessionKind, claudeSessionPlural, type ClaudeSession, type ClaudeSessionSpec } from '../../../crds/src/claude-session.ts';
import { group, version } from '../../../crds/src/claude-task.ts';
import type { Caller } from '../auth/caller.ts';
import { fieldManager, KubeCustomObjects, mergePatch, type ObjectStoreApi } from '../kube/custom-objects.ts';
import type { Actors } from '../kube/impersonation.ts';

export interface SessionStoreApi extends ObjectStoreApi<ClaudeSession, ClaudeSessionSpec> {
  /**
   * A message or an interrupt changes the session without writing the object.
   * With impersonation on, the caller must be one Kubernetes lets patch it: a
   * server-side dry run of an empty patch as the caller (RBAC and admission
   * decide; nothing is stored). Off, the API's own checks decide alone.
   */
  authorizeChange(namespace: string, name: string, caller: Caller): Promise<void>;
}

export class KubeSessions extends KubeCustomObjects<ClaudeSession, ClaudeSessionSpec> implements SessionStoreApi {
  constructor(custom: CustomObjectsApi, actors?: Actors) {
    super(custom, { kind: claudeSessionKind, plural: claudeSessionPlural, generateName: 'session-' }, actors);
  }

  async authorizeChange(namespace: string, name: string, caller: Caller): Promise<void> {
    if (!this.actors.impersonates) return;
    await this.custom.patchNamespacedCustomObject({
      group, version, namespace, plural: claudeSessionPlural, name, body: {}, dryRun: 'All', fieldManager,
    }, this.writeOptions(caller, mergePatch));
  }
}
