// The two requests an informer makes, list and watch, for any resource path.
// Kept behind an interface so the informer's recovery logic can be unit-tested
// with a scripted source. The real one talks HTTP through the client library's
// own transport (its auth and TLS), but streams the watch itself: the library's
// Watch aborts any watch that is quiet for 30 s, which an idle resource is
// between bookmarks; the informer's watchdog decides about stalls instead.
import {
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  RequestContext,
  type KubeConfig,
  type KubernetesObject,
  type V1Status,
} from '@kubernetes/client-node';

export interface ListPage<T> {
  items: T[];
  resourceVersion: string;
  /** Present when more pages follow. */
  continueToken?: string;
}

export interface ListRequest {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continueToken?: string;
  signal: AbortSignal;
}

export interface WatchRequest {
  resourceVersion: string;
  timeoutSeconds: number;
  labelSelector?: string;
  fieldSelector?: string;
  signal: AbortSignal;
}

export type WatchEvent<T> =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK'; object: T }
  | { type: 'ERROR'; object: V1Status };

export interface ListWatchSource<T> {
  list(path: string, request: ListRequest): Promise<ListPage<T>>;
  /** Calls `onEvent` for each event; resolves when the server ends the watch,
   * rejects on a failed request or a broken stream (also when aborted). */
  watch(path: string, request: WatchRequest, onEvent: (event: WatchEvent<T>) => void): Promise<void>;
}

/** A failed API request, with the HTTP status and the server's Status body. */
export class KubeApiError extends Error {
  readonly statusCode: number;
  readonly status: V1Status | undefined;

  constructor(message: string, statusCode: number, status?: V1Status) {
    super(message);
    this.name = 'KubeApiError';
    this.statusCode = statusCode;
    this.status = status;
  }
}

/** True for "410 Gone": the resourceVersion (or continue token) asked for has
 * been compacted away, and only a fresh list can tell the current state. Comes
 * as an HTTP status or as a watch ERROR event carrying a Status. */
export function isResourceExpired(errorOrStatus: unknown): boolean {
  if (errorOrStatus instanceof KubeApiError) {
    return errorOrStatus.statusCode === 410 || isResourceExpired(errorOrStatus.status);
  }
  const status = errorOrStatus as V1Status | undefined | null;
  if (!status || typeof status !== 'object') return false;
  if (status.code === 410 || status.reason === 'Expired' || status.reason === 'Gone') return true;
  return typeof status.message === 'string' && /too old resource version/i.test(status.message);
}

type Query = Record<string, string | number | boolean | undefined>;

export class KubeListWatch<T extends KubernetesObject> implements ListWatchSource<T> {
  private readonly http = new IsomorphicFetchHttpLibrary();
  private readonly kubeConfig: KubeConfig;

  constructor(kubeConfig: KubeConfig) {
    this.kubeConfig = kubeConfig;
  }

  async list(path: string, request: ListRequest): Promise<ListPage<T>> {
    const response = await this.get(path, {
      labelSelector: request.labelSelector,
      fieldSelector: request.fieldSelector,
      limit: request.limit,
      continue: request.continueToken,
    }, request.signal);
    const body = JSON.parse(await response.body.text()) as {
      apiVersion?: string;
      kind?: string;
      items?: T[];
      metadata?: { resourceVersion?: string; continue?: string };
    };
    const resourceVersion = body.metadata?.resourceVersion;
    if (!resourceVersion) throw new Error(`list of ${path} returned no resourceVersion`);
    const continueToken = body.metadata?.continue || undefined;
    // Items of a list come without apiVersion and kind, objects from a watch
    // with them; fill them in so handlers see one shape whatever delivered it.
    const kind = body.kind?.replace(/List$/, '');
    const items = (body.items ?? []).map((item) => ({ apiVersion: body.apiVersion, kind, ...item }));
    return { items, resourceVersion, ...(continueToken ? { continueToken } : {}) };
  }

  async watch(path: string, request: WatchRequest, onEvent: (event: WatchEvent<T>) => void): Promise<void> {
    const response = await this.get(path, {
      watch: true,
      allowWatchBookmarks: true,
      resourceVersion: request.resourceVersion,
      timeoutSeconds: request.timeoutSeconds,
      labelSelector: request.labelSelector,
      fieldSelector: request.fieldSelector,
    }, request.signal);
    const stream = response.body.stream();
    if (!stream) throw new Error(`watch of ${path} returned no body`);
    const decoder = new TextDecoder();
    let buffered = '';
    // Reading throws when the signal aborts or the connection breaks.
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line) onEvent(parseEvent<T>(line, path));
      }
    }
    if (buffered.trim()) onEvent(parseEvent<T>(buffered.trim(), path));
  }

  private async get(path: string, query: Query, signal: AbortSignal) {
    const cluster = this.kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/$/, '') + path);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== '') url.searchParams.set(name, String(value));
    }
    const context = new RequestContext(url.toString(), HttpMethod.GET);
    context.setHeaderParam('Accept', 'application/json');
    context.setSignal(signal);
    await this.kubeConfig.applySecurityAuthentication(context);
    const response = await this.http.send(context).toPromise();
    if (response.httpStatusCode !== 200) {
      const text = await response.body.text().catch(() => '');
      let status: V1Status | undefined;
      try {
        status = JSON.parse(text) as V1Status;
      } catch {
        status = undefined;
      }
      throw new KubeApiError(
        `GET ${url.pathname} failed with HTTP ${response.httpStatusCode}: ${status?.message ?? text.slice(0, 200)}`,
        response.httpStatusCode,
        status,
      );
    }
    return response;
  }
}

function parseEvent<T>(line: string, path: string): WatchEvent<T> {
  try {
    return JSON.parse(line) as WatchEvent<T>;
  } catch {
    // A half-written line means the stream is broken; the informer reconnects.
    throw new Error(`watch of ${path} sent a line that is not JSON: ${line.slice(0, 200)}`);
  }
}
