import { expect, test } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import type { ClaudeTask } from '../../../crds/src/claude-task.ts';
import { signatureHeaders, taskFinishedEvent } from './cloud-event.ts';

const task: ClaudeTask = {
  apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask',
  metadata: { namespace: 'team-a', name: 'nightly', uid: '11111111-2222-3333-4444-555555555555' },
  spec: { prompt: 'the prompt, never sent' },
  status: { phase: 'Succeeded', reason: 'Succeeded', completionTime: '2026-12-01T10:00:00Z', usage: { inputTokens: 3, costUSD: '0.01' }, result: 'done' },
};

test('the event has the CloudEvents 1.0 attributes and the run\'s summary, not the prompt', () => {
  const event = taskFinishedEvent(task, 'uid/Succeeded', 'https://claude.example.com/api/v1/');
  expect(event).toMatchObject({
    specversion: '1.0', type: 'io.claude-operator.task.finished', id: 'uid/Succeeded',
    source: '/apis/claude-operator.io/v1alpha1/namespaces/team-a/claudetasks/nightly', subject: 'nightly',
    time: '2026-12-01T10:00:00Z', datacontenttype: 'application/json',
    data: {
      phase: 'Succeeded', usage: { inputTokens: 3, costUSD: '0.01' }, result: 'done',
      links: { task: 'https://claude.example.com/api/v1/namespaces/team-a/tasks/nightly', report: 'https://claude.example.com/api/v1/namespaces/team-a/tasks/nightly/report' },
    },
  });
  expect(JSON.stringify(event)).not.toContain('the prompt');
  expect(taskFinishedEvent(task, 'x').data.links).toEqual({ task: event.source });
});

test('the signature verifies with the Standard Webhooks library, and not with another key', () => {
  const body = JSON.stringify(taskFinishedEvent(task, 'uid/Succeeded'));
  const now = Math.floor(Date.now() / 1000);
  const headers = signatureHeaders('uid/Succeeded', body, now, Buffer.from('hook-secret'));
  expect(new Webhook('hook-secret', { format: 'raw' }).verify(body, headers)).toEqual(JSON.parse(body));
  expect(() => new Webhook('another-secret', { format: 'raw' }).verify(body, headers)).toThrow();
  expect(() => new Webhook('hook-secret', { format: 'raw' }).verify(body.replace('done', 'DONE'), headers)).toThrow();
  expect(signatureHeaders('id', body, now)).toEqual({ 'webhook-id': 'id', 'webhook-timestamp': String(now) });
});
