// WebSocket followers that do what the README tells clients to: on any close but
// 1000 (or a refused upgrade), reconnect with from=<the last seq received>, with a
// short backoff. Each records every seq it got, so lost and duplicated events can
// be counted against what was published.
import { WebSocket } from 'ws';
import { sleep } from '../bench/support.ts';

export class Follower {
  readonly seqs: number[] = [];
  /** performance.now() of every event received, parallel to seqs. */
  readonly receivedAt: number[] = [];
  /** Each connection that opened: when (performance.now()), and when its first event came. */
  readonly connections: { openedAt: number; firstEventAt?: number }[] = [];
  reconnects = 0;
  private finished: Promise<void>;
  private stopped = false;

  private readonly url: () => string;
  private readonly token: string;
  readonly task: string;

  constructor(url: () => string, token: string, task: string) {
    this.url = url;
    this.token = token;
    this.task = task;
    this.finished = this.follow();
  }

  get lastSeq(): number {
    return this.seqs.at(-1) ?? 0;
  }

  /** Resolves when the stream ended with 1000 (the task's last event), or stop() was called. */
  done(): Promise<void> {
    return this.finished;
  }

  stop(): void {
    this.stopped = true;
  }

  private async follow(): Promise<void> {
    let backoffMs = 100;
    while (!this.stopped) {
      const code = await this.once();
      if (code === 1000) return;
      this.reconnects += 1;
      await sleep(backoffMs);
      backoffMs = Math.min(backoffMs * 2, 2000);
    }
  }

  private once(): Promise<number> {
    return new Promise((resolve) => {
      const ws = new WebSocket(`${this.url()}?from=${this.lastSeq}`, { headers: { authorization: `Bearer ${this.token}` } });
      const connection: { openedAt: number; firstEventAt?: number } = { openedAt: 0 };
      ws.on('open', () => {
        connection.openedAt = performance.now();
        this.connections.push(connection);
      });
      ws.on('message', (data) => {
        const event = JSON.parse(String(data)) as { seq: number };
        const at = performance.now();
        this.seqs.push(event.seq);
        this.receivedAt.push(at);
        connection.firstEventAt ??= at;
      });
      ws.on('unexpected-response', (_request, response) => { response.resume(); ws.terminate(); resolve(response.statusCode ?? 0); });
      ws.on('close', (code) => resolve(code));
      ws.on('error', () => resolve(-1));
    });
  }
}

/**
 * Seconds from `since` to the first event on a connection opened after it: how long a
 * follower whose connection was cut took to get events again, its reconnects included.
 * An event already in flight on the old connection does not count. Infinity if none came.
 */
export function secondsToEventAfterReconnect(follower: Pick<Follower, 'connections'>, since: number): number {
  const first = follower.connections.find((connection) => connection.openedAt > since && connection.firstEventAt !== undefined);
  return first === undefined ? Infinity : (first.firstEventAt! - since) / 1000;
}

/** Events a follower lacks, and those it got more than once, against seqs 1..published. */
export function gapsAndDuplicates(seqs: readonly number[], published: number): { lost: number; duplicated: number } {
  const seen = new Map<number, number>();
  for (const seq of seqs) seen.set(seq, (seen.get(seq) ?? 0) + 1);
  let lost = 0;
  for (let seq = 1; seq <= published; seq++) if (!seen.has(seq)) lost += 1;
  const duplicated = [...seen.values()].reduce((sum, count) => sum + count - 1, 0);
  return { lost, duplicated };
}
