// ClaudeTasks through the Kubernetes API (kube/custom-objects.ts), and their cancel.
import { PatchStrategy, setHeaderOptions, type CustomObjectsApi } from '@kubernetes/client-node';
import {
  claudeTaskKind, claudeTaskPlural, group, version, type ClaudeTask, type ClaudeTaskSpec,
} from '../../../crds/src/claude-task.ts';
import { fieldManager, KubeCustomObjects, type ObjectStoreApi } from '../kube/custom-objects.ts';

export { fieldManager, submitterAnnotation, tenantAnnotation } from '../kube/custom-objects.ts';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface TaskStoreApi extends ObjectStoreApi<ClaudeTask, ClaudeTaskSpec> {
  cancel(namespace: string, name: string): Promise<ClaudeTask>;
}

export class KubeTasks extends KubeCustomObjects<ClaudeTask, ClaudeTaskSpec> implements TaskStoreApi {
  constructor(custom: CustomObjectsApi) {
    super(custom, { kind: claudeTaskKind, plural: claudeTaskPlural, generateName: 'task-' });
  }

  async cancel(namespace: string, name: string) {
    return await this.custom.patchNamespacedCustomObject({
      group, version, namespace, plural: claudeTaskPlural, name, body: { spec: { cancel: true } }, fieldManager,
    }, mergePatch) as ClaudeTask;
  }
}
