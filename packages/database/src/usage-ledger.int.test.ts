// The usage ledger against the bed's real Postgres: a task's usage lands with its
// status, a session's with each answered turn, each counted once however often it
// is written, and the sums group and filter as budgets and /api/v1/usage read them.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import type { ClaudeSession } from '../../../crds/src/claude-session.ts';
import { createdByAnnotation, type ClaudeTask } from '../../../crds/src/claude-task.ts';
import { bedSetting } from '../../../test/support/cluster.ts';
import { migrate } from './migrate.ts';
import { acceptMessage, ensureSessionRecord, writeSessionEvents } from './session-records.ts';
import { TaskStore } from './task-store.ts';
import { readSpend, sumUsage } from './usage-ledger.ts';

const namespace = `ledger-${randomBytes(3).toString('hex')}`;
const user = `alice-${randomBytes(3).toString('hex')}`;
let pool: pg.Pool;
let store: TaskStore;

beforeAll(async () => {
  await migrate(bedSetting('DATABASE_URL'));
  pool = new pg.Pool({ connectionString: bedSetting('DATABASE_URL'), max: 2 });
  store = new TaskStore(bedSetting('DATABASE_URL'));
});

afterAll(async () => {
  await store?.close();
  await pool?.end();
});

function task(name: string, model?: string): ClaudeTask {
  return {
    apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeTask',
    metadata: { name, namespace, uid: randomUUID(), creationTimestamp: '2026-11-30T10:00:00Z', annotations: { [createdByAnnotation]: user } },
    spec: { prompt: 'p', ...(model ? { model } : {}) },
  } as ClaudeTask;
}

async function finish(t: ClaudeTask, costUSD: string, completionTime: string, tokens = 100): Promise<void> {
  await store.recordStatus(t, {
    phase: 'Succeeded', model: t.spec.model ?? 'claude-sonnet-4-5', completionTime,
    usage: { inputTokens: tokens, outputTokens: tokens / 2, cacheReadInputTokens: 10, cacheCreationInputTokens: 5, costUSD, turns: 1 },
  });
}

describe('the usage ledger', () => {
  test('a task\'s usage is charged to its creator once, however often its status is stored, on its completion day (UTC)', async () => {
    const first = task('first');
    await store.recordStatus(first, { phase: 'Running' });
    await finish(first, '0.250000', '2026-11-30T23:59:59Z');
    await finish(first, '0.250000', '2026-11-30T23:59:59Z');
    await finish(task('second', 'claude-haiku-4-5'), '1.5', '2026-12-01T00:00:01Z');

    expect(await readSpend(pool, { namespace }, new Date('2026-11-01T00:00:00Z'))).toEqual({ costUSD: '1.750000', tokens: 330 });
    expect(await readSpend(pool, { user }, new Date('2026-12-01T08:00:00Z'))).toEqual({ costUSD: '1.500000', tokens: 165 });
    expect(await sumUsage(pool, { namespace, groupBy: ['model', 'day'] })).toEqual([
      { model: 'claude-haiku-4-5', day: '2026-12-01', runs: 1, inputTokens: 100, outputTokens: 50, cacheReadInputTokens: 10, cacheCreationInputTokens: 5, costUSD: '1.500000' },
      { model: 'claude-sonnet-4-5', day: '2026-11-30', runs: 1, inputTokens: 100, outputTokens: 50, cacheReadInputTokens: 10, cacheCreationInputTokens: 5, costUSD: '0.250000' },
    ]);
    expect(await sumUsage(pool, { namespace, to: new Date('2026-11-30T12:00:00Z') })).toEqual([
      { runs: 1, inputTokens: 100, outputTokens: 50, cacheReadInputTokens: 10, cacheCreationInputTokens: 5, costUSD: '0.250000' },
    ]);
  });

  test('a session\'s answered turns are charged once each, to the session\'s creator', async () => {
    const sessionNamespace = `${namespace}-s`;
    const session = {
      apiVersion: 'claude-operator.io/v1alpha1', kind: 'ClaudeSession',
      metadata: { name: 'chat', namespace: sessionNamespace, uid: randomUUID(), creationTimestamp: '2026-12-01T10:00:00Z', annotations: { [createdByAnnotation]: user } },
      spec: { model: 'claude-sonnet-4-5' },
    } as unknown as ClaudeSession;
    await ensureSessionRecord(pool, session);
    const uid = session.metadata.uid ?? '';
    const turn = (seq: number, messageId: string, costUSD: string) => ({
      seq, type: 'runner.turn_completed', messageId, time: '2026-12-01T10:05:00Z',
      data: { type: 'runner.turn_completed', messageId, outcome: 'answered', result: 'ok', stopReason: 'success', message: null,
        usage: { inputTokens: 20, outputTokens: 10, costUSD }, sessionId: uid, model: null, firstSeq: seq - 1 },
    });
    for (const messageId of ['m1', 'm2']) {
      await acceptMessage(pool, { sessionUid: uid, messageId, text: 'hi', acceptedAt: '2026-12-01T10:04:00Z', requestedBy: 'bob' });
    }
    await writeSessionEvents(pool, uid, [turn(2, 'm1', '0.1')]);
    await writeSessionEvents(pool, uid, [turn(2, 'm1', '0.1'), turn(4, 'm2', '0.2')]);

    expect(await sumUsage(pool, { namespace: sessionNamespace, groupBy: ['kind', 'user', 'model'] })).toEqual([
      { kind: 'ClaudeSession', user, model: 'claude-sonnet-4-5', runs: 2, inputTokens: 40, outputTokens: 20, cacheReadInputTokens: 0, cacheCreationInputTokens: 0, costUSD: '0.300000' },
    ]);
  });

  test('a list of namespaces limits the sums to them; an empty list matches none', async () => {
    const sessionNamespace = `${namespace}-s`;
    const both = await sumUsage(pool, { namespaces: [namespace, sessionNamespace, `${namespace}-none`], groupBy: ['namespace'] });
    expect(both.map((row) => [row.namespace, row.costUSD])).toEqual([[namespace, '1.750000'], [sessionNamespace, '0.300000']]);
    expect(await sumUsage(pool, { namespaces: [sessionNamespace] })).toEqual([expect.objectContaining({ runs: 2, costUSD: '0.300000' })]);
    expect(await sumUsage(pool, { namespaces: [], groupBy: ['namespace'] })).toEqual([]);
  });

  test('nothing spent reads as zero', async () => {
    expect(await readSpend(pool, { user: `nobody-${randomBytes(3).toString('hex')}` }, new Date())).toEqual({ costUSD: '0.000000', tokens: 0 });
  });
});
