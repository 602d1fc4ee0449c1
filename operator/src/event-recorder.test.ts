import { describe, expect, it } from '@jest/globals';
import type { CoreV1Api } from '@kubernetes/client-node';
import type { ClaudeTask } from '../../crds/src/claude-task.ts';
import { EventRecorder } from './event-recorder.ts';

type Create = CoreV1Api['createNamespacedEvent'];
const task = { metadata: { name: 't', namespace: 'ns', uid: 'u1' }, spec: { prompt: 'p' } } as unknown as ClaudeTask;

/** An apiserver whose answers the test releases one by one. */
function slowApiserver() {
  const posted: string[] = [];
  const pending: Array<() => void> = [];
  const create = ((request: { body: { reason?: string } }) => new Promise((resolve, reject) => {
    pending.push(() => {
      posted.push(request.body.reason ?? '');
      if (request.body.reason === 'Refused') reject(new Error('403'));
      else resolve(request.body);
    });
  })) as unknown as Create;
  return { posted, pending, core: { createNamespacedEvent: create } };
}

describe('EventRecorder', () => {
  it('returns at once and posts in the background, in order, with at most `senders` in flight; a refused Event is dropped quietly', async () => {
    const apiserver = slowApiserver();
    const recorder = new EventRecorder(apiserver.core, { senders: 1 });
    recorder.record(task, 'Normal', 'First', 'one');
    recorder.record(task, 'Warning', 'Refused', 'two');
    recorder.record(task, 'Normal', 'Third', 'three');
    expect(apiserver.pending).toHaveLength(1);
    const flushed = recorder.flush();
    while (apiserver.posted.length < 3) {
      await new Promise((resolve) => setImmediate(resolve));
      apiserver.pending.shift()?.();
    }
    await flushed;
    expect(apiserver.posted).toEqual(['First', 'Refused', 'Third']);
  });

  it('drops the oldest waiting Events beyond maxWaiting and says how many', async () => {
    const apiserver = slowApiserver();
    let dropped = 0;
    const recorder = new EventRecorder(apiserver.core, { senders: 1, maxWaiting: 2, onDropped: (n) => { dropped += n; } });
    for (const reason of ['A', 'B', 'C', 'D', 'E']) recorder.record(task, 'Normal', reason, '');
    expect(dropped).toBe(2);
    const flushed = recorder.flush();
    while (apiserver.pending.length > 0 || apiserver.posted.length < 3) {
      await new Promise((resolve) => setImmediate(resolve));
      apiserver.pending.shift()?.();
    }
    await flushed;
    expect(apiserver.posted).toEqual(['A', 'D', 'E']);
  });
});
