// A Clock for unit tests: time moves only when the test calls advance(), and
// due timers fire in time order, so runs are deterministic.
import type { Clock, TimerHandle } from './clock.ts';

interface PendingTimer { id: number; at: number; callback: () => void }

export class FakeClock implements Clock {
  private current: number;
  private nextId = 1;
  private readonly timers = new Map<number, PendingTimer>();

  constructor(start = 1_000_000) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.current + Math.max(0, ms), callback });
    return { timerId: id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle.timerId as number);
  }

  /** How many timers are waiting. */
  pending(): number {
    return this.timers.size;
  }

  /** Delays of the waiting timers from now, soonest first. */
  pendingDelays(): number[] {
    return [...this.timers.values()].map((timer) => timer.at - this.current).sort((a, b) => a - b);
  }

  /** Moves time forward by `ms`, firing due timers in order and letting the
   * promise callbacks they start run before the next one fires. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      await flushPromises();
      const due = [...this.timers.values()].filter((timer) => timer.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers.delete(due.id);
      this.current = due.at;
      due.callback();
    }
    this.current = target;
    await flushPromises();
  }
}

/** Lets every already-settled promise chain run to its next real wait. */
export async function flushPromises(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
