// The session's control channel (session-stream.ts): JSON commands to the running
// pod, best-effort. A connection of its own, since a subscribed connection takes no
// other commands; ioredis subscribes again after a reconnect.
import { Redis } from 'ioredis';
import { SessionControlSchema, type SessionControl } from '../../../packages/contracts/src/session-stream.ts';
import type { Logger } from '../../../packages/platform/src/logger.ts';

export interface ControlListenerOptions {
  redisUrl: string;
  channel: string;
  logger: Logger;
  onCommand: (command: SessionControl) => void;
}

export class ControlListener {
  private readonly redis: Redis;
  private readonly options: ControlListenerOptions;

  constructor(options: ControlListenerOptions) {
    this.options = options;
    this.redis = new Redis(options.redisUrl, { retryStrategy: (times) => Math.min(times * 200, 2_000), maxRetriesPerRequest: null });
    this.redis.on('error', (error: Error) => options.logger.debug({ err: error.message }, 'control channel: redis connection error'));
    this.redis.on('message', (_channel: string, text: string) => this.receive(text));
  }

  /** Resolves once subscribed (so a command sent after it is heard). */
  async start(): Promise<void> {
    await this.redis.subscribe(this.options.channel);
  }

  private receive(text: string): void {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = SessionControlSchema.safeParse(json);
    if (!parsed.success) {
      this.options.logger.warn({ length: text.length }, 'control channel: not a command; ignored');
      return;
    }
    this.options.onCommand(parsed.data);
  }

  close(): void {
    this.redis.disconnect();
  }
}
