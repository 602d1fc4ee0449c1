// Publishes a task's partial events (token deltas, event-stream.ts isPartialEvent) to
// its Pub/Sub partial channel, for clients that show text as it comes. Best-effort
// on purpose, unlike the EventPublisher: its own connection, no queue, no retry.
// While Redis is away, or too many PUBLISHes are waiting for their reply, an event
// is dropped and counted; the whole message reaches the Stream anyway.
import { Redis } from 'ioredis';
import type { TaskEvent } from '../../packages/contracts/src/task-events.ts';
import type { Logger } from '../../packages/platform/src/logger.ts';

export interface PartialPublisherOptions {
  redisUrl: string;
  /** workloadStreamKeys(kind, namespace, name).partial */
  channel: string;
  logger: Logger;
  /** PUBLISHes waiting for a reply before new events are dropped. */
  maxInFlight?: number;
}

export interface PartialCounts {
  published: number;
  dropped: number;
}

export class PartialPublisher {
  private readonly redis: Redis;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly maxInFlight: number;
  private readonly counts: PartialCounts = { published: 0, dropped: 0 };
  private closed = false;
  private readonly options: PartialPublisherOptions;

  constructor(options: PartialPublisherOptions) {
    this.options = options;
    this.maxInFlight = options.maxInFlight ?? 256;
    this.redis = new Redis(options.redisUrl, {
      enableOfflineQueue: false, // fail at once while disconnected: nothing waits for Redis
      maxRetriesPerRequest: 0,
      commandTimeout: 2_000,
      connectTimeout: 5_000,
      retryStrategy: (times) => Math.min(times * 200, 2_000),
    });
    this.redis.on('error', (error: Error) => options.logger.debug({ err: error.message }, 'partial channel: redis connection error'));
  }

  /** Never throws and never waits. */
  publish(event: TaskEvent): void {
    if (this.closed || this.redis.status !== 'ready' || this.inFlight.size >= this.maxInFlight) {
      this.counts.dropped++;
      return;
    }
    const sent = this.redis.publish(this.options.channel, JSON.stringify(event)).then(
      () => this.counts.published++,
      () => this.counts.dropped++,
    );
    this.inFlight.add(sent);
    void sent.finally(() => this.inFlight.delete(sent));
  }

  /** Waits up to timeoutMs for the PUBLISHes in flight, then disconnects. */
  async close(timeoutMs: number): Promise<PartialCounts> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    this.redis.disconnect();
    return { ...this.counts };
  }
}
