// Times every async method of an object (a store, a client) without touching
// it: the proxy reports each call's name and its seconds, failures included.
import { performance } from 'node:perf_hooks';

export function timedMethods<T extends object>(target: T, observe: (method: string, seconds: number) => void): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value: unknown = Reflect.get(object, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return function timed(this: unknown, ...args: unknown[]) {
        const started = performance.now();
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(object, args);
        if (!(result instanceof Promise)) return result;
        const done = () => observe(property, (performance.now() - started) / 1000);
        return result.then((resolved) => {
          done();
          return resolved;
        }, (error: unknown) => {
          done();
          throw error;
        });
      };
    },
  });
}
