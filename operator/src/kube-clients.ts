// The API clients the operator uses, made once from one KubeConfig, behind one
// client-side rate limit (QPS and burst, as client-go has): the watches are not
// counted, every other request waits for a token.
import { performance } from 'node:perf_hooks';
import {
  AdmissionregistrationV1Api, BatchV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, IsomorphicFetchHttpLibrary, KubeConfig, ServerConfiguration, createConfiguration,
  setHeaderMiddleware, wrapHttpLibrary, type RequestContext,
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
  /** The admission policies rendered from ClaudePolicies. */
  admission: AdmissionregistrationV1Api;
}

export interface ClientLimits {
  qps: number;
  burst: number;
}

/** Where the operator's time with the apiserver goes (seconds). */
export interface ClientTimings {
  rateLimitWait?(seconds: number): void;
  request?(verb: string, code: number | 'error', seconds: number): void;
}

export function makeKubeClients(config: KubeConfig, limits: ClientLimits = { qps: 50, burst: 100 }, timings: ClientTimings = {}): KubeClients {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const bucket = new TokenBucket(limits);
  const fetchLibrary = new IsomorphicFetchHttpLibrary();
  // What makeApiClient does, plus the limit, each request's time, and a user agent that says who we are in audit logs.
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: config },
    middleware: [setHeaderMiddleware('User-Agent', 'claude-operator')],
    promiseMiddleware: [{
      pre: async (context: RequestContext) => {
        const waitStarted = performance.now();
        await bucket.take();
        timings.rateLimitWait?.((performance.now() - waitStarted) / 1000);
        return context;
      },
      post: async (context) => context,
    }],
    httpApi: wrapHttpLibrary({
      send: async (request) => {
        const started = performance.now();
        const verb = request.getHttpMethod().toString();
        try {
          const response = await fetchLibrary.send(request).toPromise();
          timings.request?.(verb, response.httpStatusCode, (performance.now() - started) / 1000);
          return response;
        } catch (error) {
          timings.request?.(verb, 'error', (performance.now() - started) / 1000);
          throw error;
        }
      },
    }),
  });
  return {
    config,
    core: new CoreV1Api(configuration),
    batch: new BatchV1Api(configuration),
    custom: new CustomObjectsApi(configuration),
    coordination: new CoordinationV1Api(configuration),
    admission: new AdmissionregistrationV1Api(configuration),
  };
}

/** A PermanentError for a refused request, with what was being done and the apiserver's message; other errors as they are. */
export function asPermanentApiError(error: unknown, doing: string): unknown {
  if (!isPermanentApiError(error)) return error;
  return new PermanentError(`${doing}: the apiserver refused it (${statusCode(error)}): ${apiServerMessage(error)}`, { cause: error });
}
