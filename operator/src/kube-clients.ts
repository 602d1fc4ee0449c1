// The API clients the operator uses, made once from one KubeConfig.
import { apiServerMessage, isPermanentApiError, statusCode } from '../../packages/platform/src/kube-errors.ts';
import { PermanentError } from './kube/work-queue.ts';
import { BatchV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';

export interface KubeClients {
  config: KubeConfig;
  core: CoreV1Api;
  batch: BatchV1Api;
  custom: CustomObjectsApi;
  coordination: CoordinationV1Api;
}

export function makeKubeClients(config: KubeConfig): KubeClients {
  return {
    config,
    core: config.makeApiClient(CoreV1Api),
    batch: config.makeApiClient(BatchV1Api),
    custom: config.makeApiClient(CustomObjectsApi),
    coordination: config.makeApiClient(CoordinationV1Api),
  };
}

/** A PermanentError for a refused request, with what was being done and the apiserver's message; other errors as they are. */
export function asPermanentApiError(error: unknown, doing: string): unknown {
  if (!isPermanentApiError(error)) return error;
  return new PermanentError(`${doing}: the apiserver refused it (${statusCode(error)}): ${apiServerMessage(error)}`, { cause: error });
}
