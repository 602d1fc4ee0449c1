// A token bucket, client-go's client-side limit: `qps` requests a second on
// average, `burst` at once. A request that finds the bucket empty waits its
// turn, in order, instead of failing; so a burst of reconciles queues here
// rather than flooding the apiserver and being answered with 429s.
import { systemClock, type Clock } from './clock.ts';

export class TokenBucket {
  private readonly qps: number;
  private readonly burst: number;
  private readonly clock: Clock;
  private tokens: number;
  private updatedAt: number;
  /** Waiters in arrival order; the chain keeps them so. */
  private chain: Promise<void> = Promise.resolve();

  constructor(options: { qps: number; burst: number; clock?: Clock }) {
    if (!(options.qps > 0) || !(options.burst >= 1)) throw new Error(`a token bucket needs qps > 0 and burst >= 1, not ${options.qps}/${options.burst}`);
    this.qps = options.qps;
    this.burst = options.burst;
    this.clock = options.clock ?? systemClock;
    this.tokens = options.burst;
    this.updatedAt = this.clock.now();
  }

  /** Resolves when the caller may send one request. */
  take(): Promise<void> {
    const turn = this.chain.then(() => this.waitForToken());
    this.chain = turn;
    return turn;
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.qps);
    this.updatedAt = now;
  }

  private async waitForToken(): Promise<void> {
    this.refill();
    if (this.tokens < 1) {
      const waitMs = Math.ceil(((1 - this.tokens) / this.qps) * 1000);
      await new Promise<void>((resolve) => this.clock.setTimeout(resolve, waitMs));
      this.refill();
    }
    this.tokens -= 1;
  }
}
