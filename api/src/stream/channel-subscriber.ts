// The one Redis Pub/Sub connection of an API process. A subscriber connection
// can do nothing else, so every listener of every channel shares this one:
// the ?wait of task creation (the runner's wake channel) and WebSocket clients
// asking for partial messages (the partial channel). SUBSCRIBE is sent for a
// channel's first listener and UNSUBSCRIBE after its last; ioredis subscribes
// again by itself after a reconnect. What is published while nobody listens, or
// while the connection is down, is gone: Pub/Sub is only ever a hint or an
// ephemeral extra here, never the record.
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

export type Unsubscribe = () => void;
export type ChannelListener = (message: string) => void;

export const channelSubscriberConnectionName = 'claude-operator-api-pubsub';

export class ChannelSubscriber {
  private readonly redis: Redis;
  private readonly logger: Logger;
  private readonly listeners = new Map<string, { listeners: Set<ChannelListener>; subscribed: Promise<unknown> }>();
  private closed = false;

  constructor(options: { redisUrl: string; logger: Logger; connectionName?: string }) {
    this.logger = options.logger;
    this.redis = new Redis(options.redisUrl, {
      connectionName: options.connectionName ?? channelSubscriberConnectionName,
      maxRetriesPerRequest: null,
      retryStrategy: (times) => Math.min(times * 100, 2_000),
    });
    this.redis.on('error', (error: Error) => this.logger.debug({ err: error.message }, 'pub/sub connection error'));
    this.redis.on('message', (channel: string, message: string) => {
      // A copy: a listener may unsubscribe from its callback.
      for (const listener of [...(this.listeners.get(channel)?.listeners ?? [])]) {
        try {
          listener(message);
        } catch (error) {
          this.logger.error({ err: (error as Error).message, channel }, 'pub/sub listener failed');
        }
      }
    });
  }

  /** Resolves once Redis has confirmed the subscription, so nothing published from then on is missed. */
  async subscribe(channel: string, listener: ChannelListener): Promise<Unsubscribe> {
    if (this.closed) throw new Error('the channel subscriber is closed');
    let entry = this.listeners.get(channel);
    if (!entry) {
      const subscribed = this.redis.subscribe(channel);
      entry = { listeners: new Set(), subscribed };
      this.listeners.set(channel, entry);
    }
    const target = entry;
    target.listeners.add(listener);
    let done = false;
    const unsubscribe = () => {
      if (done) return;
      done = true;
      target.listeners.delete(listener);
      if (target.listeners.size > 0 || this.listeners.get(channel) !== target) return;
      this.listeners.delete(channel);
      // Commands on one connection run in order: a SUBSCRIBE sent after this one wins.
      if (!this.closed) this.redis.unsubscribe(channel).catch((error: Error) => this.logger.debug({ err: error.message, channel }, 'UNSUBSCRIBE failed'));
    };
    try {
      await target.subscribed;
    } catch (error) {
      unsubscribe();
      throw error;
    }
    return unsubscribe;
  }

  /** How many channels have listeners. */
  get channels(): number {
    return this.listeners.size;
  }

  close(): void {
    this.closed = true;
    this.listeners.clear();
    this.redis.disconnect();
  }
}
