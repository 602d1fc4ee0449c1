import { describe, expect, it } from '@jest/globals';
import { timedMethods } from './timed.ts';

class Store {
  private readonly rows = ['a'];
  async read(): Promise<string[]> {
    return this.rows;
  }
  async fail(): Promise<void> {
    throw new Error('down');
  }
  name(): string {
    return 'store';
  }
}

describe('timedMethods', () => {
  it('reports each async call by method, failures too, and passes results and errors through', async () => {
    const seen: string[] = [];
    const store = timedMethods(new Store(), (method, seconds) => {
      expect(seconds).toBeGreaterThanOrEqual(0);
      seen.push(method);
    });
    await expect(store.read()).resolves.toEqual(['a']);
    await expect(store.fail()).rejects.toThrow('down');
    expect(store.name()).toBe('store');
    expect(seen).toEqual(['read', 'fail']);
  });
});
