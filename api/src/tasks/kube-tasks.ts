// ClaudeTasks through the Kubernetes API (kube/custom-objects.ts), and their cancel.
import type { CustomObjectsApi } from '@kubernetes/client-node';
import type { Caller } from '../auth/caller.ts';
import {
  claudeTaskKind, claudeTaskPlural, group, version, type ClaudeTask, type ClaudeTaskSpec,
} from '../../../crds/src/claude-task.ts';
import { fieldManager, KubeCustomObjects, mergePatch, type ObjectStoreApi } from '../kube/custom-objects.ts';
import type { Actors } from '../kube/impersonation.ts';

export { fieldManager, submitterAnnotation, tenantAnnotation } from '../kube/custom-objects.ts';

export interface TaskStoreApi extends ObjectStoreApi<ClaudeTask, ClaudeTaskSpec> {
  /** As the caller when impersonation is on. */
  cancel(namespace: string, name: string, caller: Caller): Promise<ClaudeTask>;
}

export class KubeTasks extends KubeCustomObjects<ClaudeTask, ClaudeTaskSpec> implements TaskStoreApi {
  constructor(custom: CustomObjectsApi, actors?: Actors) {
    super(custom, { kind: claudeTaskKind, plural: claudeTaskPlural, generateName: 'task-' }, actors);
  }

  async cancel(namespace: string, name: string, caller: Caller) {
    return await this.custom.patchNamespacedCustomObject({
      group, version, namespace, plural: claudeTaskPlural, name, body: { spec: { cancel: true } }, fieldManager,
    }, this.writeOptions(caller, mergePatch)) as ClaudeTask;
  }
}
