// ClaudeTaskTemplates through the Kubernetes API, as the API server's identity;
// the routes decide first whether the caller may see the namespace.
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { group, version } from '../../../crds/src/claude-task.ts';
import { claudeTaskTemplatePlural, type ClaudeTaskTemplate } from '../../../crds/src/claude-task-template.ts';

export interface TemplateStoreApi {
  get(namespace: string, name: string): Promise<ClaudeTaskTemplate>;
  list(namespace: string): Promise<ClaudeTaskTemplate[]>;
}

/** Templates are few and small: one list call, at most this many. */
const maxTemplates = 500;

export class KubeTemplates implements TemplateStoreApi {
  private readonly custom: CustomObjectsApi;

  constructor(custom: CustomObjectsApi) {
    this.custom = custom;
  }

  async get(namespace: string, name: string) {
    return await this.custom.getNamespacedCustomObject({ group, version, namespace, plural: claudeTaskTemplatePlural, name }) as ClaudeTaskTemplate;
  }

  async list(namespace: string) {
    const list = await this.custom.listNamespacedCustomObject({ group, version, namespace, plural: claudeTaskTemplatePlural, limit: maxTemplates }) as
      { items?: ClaudeTaskTemplate[] };
    return list.items ?? [];
  }
}
