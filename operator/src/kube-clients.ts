// The API clients the operator uses, made once from one KubeConfig, behind one
// client-side rate limit (QPS and burst, as client-go has): the watches are not
// counted, every other request waits for a token.
import {
  BatchV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, ServerConfiguration, createConfiguration, setHeaderMiddleware,
  type RequestContext,
} from '@kubernetes/client-node';
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

/** The HTTP status of a client-node error, if it has one. */
export function statusCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/** 4xx answers that retrying the same request cannot change: not 409 (a conflict
 * the next pass resolves), 429 (throttled) or 408 (timed out). */
export function isPermanentApiError(error: unknown): boolean {
  const code = statusCode(error);
  return code !== undefined && code >= 400 && code < 500 && ![408, 409, 429].includes(code);
}

/** The apiserver's own words: the message of the Status it answered with. */
export function apiServerMessage(error: unknown): string {
  const body = (error as { body?: unknown })?.body;
  try {
    const status = typeof body === 'string' ? JSON.parse(body) as { message?: unknown } : body as { message?: unknown } | undefined;
    if (typeof status?.message === 'string') return status.message;
  } catch {
    // not JSON: fall through
  }
  return error instanceof Error ? error.message : String(error);
}

/** A PermanentError for a refused request, with what was being done and the apiserver's message; other errors as they are. */
export function asPermanentApiError(error: unknown, doing: string): unknown {
  if (!isPermanentApiError(error)) return error;
  return new PermanentError(`${doing}: the apiserver refused it (${statusCode(error)}): ${apiServerMessage(error)}`, { cause: error });
}
