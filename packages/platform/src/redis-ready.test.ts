import { EventEmitter } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import { redisReady } from './redis-ready.ts';

class Connection extends EventEmitter {
  status = 'connecting';
  ready(): void {
    this.status = 'ready';
    this.emit('ready');
  }
}

describe('redisReady', () => {
  it('resolves true at once when ready, or when the connection becomes ready, and leaves no listener behind', async () => {
    const connection = new Connection();
    const waiting = redisReady(connection, 10_000);
    connection.ready();
    await expect(waiting).resolves.toBe(true);
    expect(connection.listenerCount('ready')).toBe(0);
    await expect(redisReady(connection, 10_000)).resolves.toBe(true);
  });

  it('resolves false when the wait runs out first', async () => {
    const connection = new Connection();
    await expect(redisReady(connection, 20)).resolves.toBe(false);
    expect(connection.listenerCount('ready')).toBe(0);
  });
});
