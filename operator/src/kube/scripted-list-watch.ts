// A ListWatchSource for unit tests: an in-memory "server" whose objects the
// test changes, and whose watches the test drives by hand (emit events, end
// them, break them), so every recovery path of the informer can be reached
// without a real apiserver.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ListPage, ListRequest, ListWatchSource, WatchEvent, WatchRequest } from './list-watch.ts';
import { objectKey } from './object-key.ts';

export interface ScriptedWatch<T> {
  path: string;
  request: WatchRequest;
  emit(event: WatchEvent<T>): void;
  /** The server closes the stream normally. */
  end(): void;
  /** The request or the stream fails. */
  fail(error: Error): void;
  /** Whether the informer still listens (not ended, failed or aborted). */
  open(): boolean;
}

export class ScriptedListWatch<T extends KubernetesObject> implements ListWatchSource<T> {
  readonly objects = new Map<string, T>();
  readonly lists: ListRequest[] = [];
  readonly watches: Array<ScriptedWatch<T>> = [];
  /** Errors the next list calls throw, one per call, before lists work again. */
  readonly listFailures: Error[] = [];
  private revision = 100;

  /** Stores `object` as the server would, with a new resourceVersion; returns the stored copy. */
  put(object: T): T {
    const stored = { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.revision) } } as T;
    this.objects.set(objectKey(stored), stored);
    return stored;
  }

  remove(key: string): T | undefined {
    const object = this.objects.get(key);
    this.objects.delete(key);
    this.revision++;
    return object;
  }

  currentRevision(): string {
    return String(this.revision);
  }

  /** The watch the informer holds now. */
  activeWatch(): ScriptedWatch<T> | undefined {
    return this.watches.filter((watch) => watch.open()).at(-1);
  }

  async list(_path: string, request: ListRequest): Promise<ListPage<T>> {
    this.lists.push(request);
    const failure = this.listFailures.shift();
    if (failure) throw failure;
    const all = [...this.objects.values()].sort((a, b) => objectKey(a).localeCompare(objectKey(b)));
    const offset = request.continueToken ? Number(request.continueToken) : 0;
    const end = request.limit ? offset + request.limit : all.length;
    const items = all.slice(offset, end);
    return { items, resourceVersion: this.currentRevision(), ...(end < all.length ? { continueToken: String(end) } : {}) };
  }

  watch(path: string, request: WatchRequest, onEvent: (event: WatchEvent<T>) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let open = true;
      const close = () => {
        open = false;
        request.signal.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        close();
        reject(new DOMException('This operation was aborted', 'AbortError'));
      };
      if (request.signal.aborted) return onAbort();
      request.signal.addEventListener('abort', onAbort);
      this.watches.push({
        path,
        request,
        emit: (event) => {
          if (!open) throw new Error('emit on a watch that is no longer open');
          onEvent(event);
        },
        end: () => {
          close();
          resolve();
        },
        fail: (error) => {
          close();
          reject(error);
        },
        open: () => open,
      });
    });
  }
}
