// One kind of the operator's custom resources (ClaudeTask, ClaudeSession)
// through the Kubernetes API. The routes decide first whether the caller may
// touch the namespace; this module only talks to the apiserver. Writes go as
// the caller when impersonation is on (kube/impersonation.ts), so the
// apiserver's RBAC and admission decide them for the real user. Reads stay the
// API's own: the token's namespaces already decide what a caller sees (404
// outside them), a viewer needs no RBAC of its own, and the waits and streams
// reread objects long after the request that started them.
import { PatchStrategy, setHeaderOptions, type ConfigurationOptions, type CustomObjectsApi } from '@kubernetes/client-node';
import type { Caller } from '../auth/caller.ts';
import { group, version, type ResourceMetadata } from '../../../crds/src/claude-task.ts';
import { asTheApi, type Actors } from './impersonation.ts';
import type { Page } from './list-cursor.ts';

export const fieldManager = 'claude-operator-api';
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
export const tenantAnnotation = 'claude-operator.io/tenant';
export const submitterAnnotation = 'claude-operator.io/submitted-by';

export interface KubeObject<Spec> {
  apiVersion: string;
  kind: string;
  metadata: ResourceMetadata;
  spec: Spec;
  status?: object;
}

export interface NewObject<Spec> {
  name?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  spec: Spec;
}


export interface ListOptions { labelSelector?: string; continueToken?: string; limit: number }

export interface ObjectStoreApi<T, Spec> {
  /** As the caller when impersonation is on. */
  create(namespace: string, body: NewObject<Spec>, caller: Caller): Promise<T>;
  get(namespace: string, name: string): Promise<T>;
  list(namespace: string, options: ListOptions): Promise<Page<T>>;
  /** As the caller when impersonation is on. */
  delete(namespace: string, name: string, caller: Caller): Promise<void>;
}

export interface KindNames {
  kind: string;
  plural: string;
  /** metadata.generateName of an object made without a name. */
  generateName: string;
}

export class KubeCustomObjects<T extends KubeObject<Spec>, Spec> implements ObjectStoreApi<T, Spec> {
  protected readonly custom: CustomObjectsApi;
  protected readonly names: KindNames;
  protected readonly actors: Actors;

  constructor(custom: CustomObjectsApi, names: KindNames, actors: Actors = asTheApi) {
    this.custom = custom;
    this.names = names;
    this.actors = actors;
  }

  /** The per-call options of a write by the caller (its impersonation), with any given. */
  protected writeOptions(caller: Caller, options?: ConfigurationOptions): ConfigurationOptions | undefined {
    return this.actors.optionsFor(caller, options);
  }

  async create(namespace: string, body: NewObject<Spec>, caller: Caller): Promise<T> {
    const object = {
      apiVersion: `${group}/${version}`,
      kind: this.names.kind,
      metadata: {
        ...(body.name ? { name: body.name } : { generateName: this.names.generateName }),
        ...(body.labels ? { labels: body.labels } : {}),
        ...(body.annotations ? { annotations: body.annotations } : {}),
      },
      spec: body.spec,
    };
    return await this.custom.createNamespacedCustomObject({
      group, version, namespace, plural: this.names.plural, body: object, fieldManager, fieldValidation: 'Strict',
    }, this.writeOptions(caller)) as T;
  }

  async get(namespace: string, name: string): Promise<T> {
    return await this.custom.getNamespacedCustomObject({ group, version, namespace, plural: this.names.plural, name }) as T;
  }

  async list(namespace: string, options: ListOptions): Promise<Page<T>> {
    const list = await this.custom.listNamespacedCustomObject({
      group, version, namespace, plural: this.names.plural, limit: options.limit,
      ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
      ...(options.continueToken ? { _continue: options.continueToken } : {}),
    }) as { items?: T[]; metadata?: { _continue?: string; continue?: string } };
    const continueToken = list.metadata?._continue ?? list.metadata?.continue;
    return { items: list.items ?? [], ...(continueToken ? { continueToken } : {}) };
  }

  async delete(namespace: string, name: string, caller: Caller): Promise<void> {
    await this.custom.deleteNamespacedCustomObject({
      group, version, namespace, plural: this.names.plural, name, propagationPolicy: 'Background',
    }, this.writeOptions(caller));
  }
}
