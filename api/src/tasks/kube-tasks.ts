// ClaudeTasks through the Kubernetes API, as the API server's own identity. The
// routes decide first whether the caller may touch the namespace; this module
// only talks to the apiserver.
import { PatchStrategy, setHeaderOptions, type CustomObjectsApi } from '@kubernetes/client-node';
import {
  claudeTaskKind, claudeTaskPlural, group, version, type ClaudeTask, type ClaudeTaskSpec,
} from '../../../crds/src/claude-task.ts';
import type { Page } from './list-cursor.ts';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
export const fieldManager = 'claude-operator-api';
export const tenantAnnotation = 'claude-operator.io/tenant';
export const submitterAnnotation = 'claude-operator.io/submitted-by';

export interface TaskStoreApi {
  create(namespace: string, body: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string>; spec: ClaudeTaskSpec }): Promise<ClaudeTask>;
  get(namespace: string, name: string): Promise<ClaudeTask>;
  list(namespace: string, options: { labelSelector?: string; continueToken?: string; limit: number }): Promise<Page<ClaudeTask>>;
  cancel(namespace: string, name: string): Promise<ClaudeTask>;
  delete(namespace: string, name: string): Promise<void>;
}

export class KubeTasks implements TaskStoreApi {
  private readonly custom: CustomObjectsApi;

  constructor(custom: CustomObjectsApi) {
    this.custom = custom;
  }

  async create(namespace: string, body: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string>; spec: ClaudeTaskSpec }) {
    const task: ClaudeTask = {
      apiVersion: `${group}/${version}`,
      kind: claudeTaskKind,
      metadata: {
        ...(body.name ? { name: body.name } : { generateName: 'task-' }),
        ...(body.labels ? { labels: body.labels } : {}),
        ...(body.annotations ? { annotations: body.annotations } : {}),
      } as ClaudeTask['metadata'],
      spec: body.spec,
    };
    return await this.custom.createNamespacedCustomObject({
      group, version, namespace, plural: claudeTaskPlural, body: task, fieldManager, fieldValidation: 'Strict',
    }) as ClaudeTask;
  }

  async get(namespace: string, name: string) {
    return await this.custom.getNamespacedCustomObject({ group, version, namespace, plural: claudeTaskPlural, name }) as ClaudeTask;
  }

  async list(namespace: string, options: { labelSelector?: string; continueToken?: string; limit: number }) {
    const list = await this.custom.listNamespacedCustomObject({
      group, version, namespace, plural: claudeTaskPlural, limit: options.limit,
      ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
      ...(options.continueToken ? { _continue: options.continueToken } : {}),
    }) as { items?: ClaudeTask[]; metadata?: { _continue?: string; continue?: string } };
    const continueToken = list.metadata?._continue ?? list.metadata?.continue;
    return { items: list.items ?? [], ...(continueToken ? { continueToken } : {}) };
  }

  async cancel(namespace: string, name: string) {
    return await this.custom.patchNamespacedCustomObject({
      group, version, namespace, plural: claudeTaskPlural, name, body: { spec: { cancel: true } }, fieldManager,
    }, mergePatch) as ClaudeTask;
  }

  async delete(namespace: string, name: string) {
    await this.custom.deleteNamespacedCustomObject({ group, version, namespace, plural: claudeTaskPlural, name, propagationPolicy: 'Background' });
  }
}
