// The API clients the operator uses, made once from one KubeConfig, behind one
// client-side rate limit (QPS and burst, as client-go has): the watches are not
// counted, every other request waits for a token.
import {
  BatchV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, ServerConfiguration, createConfiguration, setHeaderMiddleware,
  type RequestContext,
} from '@kubernetes/client-node';
import { apiServerMessage, isPermanentApiError, statusCode } from '../../packages/platform/src/kube-errors.ts';
import { TokenBucket } from './kube/rate-limiter.ts';
import { PermanentError } from './kube/work-queue.ts';

export interface KubeClients {
  config: KubeConfig;
  core: CoreV1Api;
  batch: BatchV1Api;
  custom: CustomObjectsApi;
  coordination: CoordinationV1Api;
}

export interface ClientLimits {
  qps: number;
  burst: number;
}

export function makeKubeClients(config: KubeConfig, limits: ClientLimits = { qps: 50, burst: 100 }): KubeClients {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const bucket = new TokenBucket(limits);
  // What makeApiClient does, plus the limit and a user agent that says who we are in audit logs.
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: config },
    middleware: [setHeaderMiddleware('User-Agent', 'claude-operator')],
    promiseMiddleware: [{
      pre: async (context: RequestContext) => {
        await bucket.take();
        return context;
      },
      post: async (context) => context,
    }],
  });
  return {
    config,
    core: new CoreV1Api(configuration),
    batch: new BatchV1Api(configuration),
    custom: new CustomObjectsApi(configuration),
    coordination: new CoordinationV1Api(configuration),
  };
}

/** A PermanentError for a refused request, with what was being done and the apiserver's message; other errors as they are. */
export function asPermanentApiError(error: unknown, doing: string): unknown {
  if (!isPermanentApiError(error)) return error;
  return new PermanentError(`${doing}: the apiserver refused it (${statusCode(error)}): ${apiServerMessage(error)}`, { cause: error });
}
