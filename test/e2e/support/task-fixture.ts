// What every ClaudeTask e2e file needs: the CRDs, the scripted API, a restricted
// namespace with the default API key Secret, an operator prepared under the
// chart's RBAC for that namespace, and clients for Redis and Postgres.
import { afterAll, beforeAll } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import { installCrdsForUse } from '../../bed/admission-probe.ts';
import { startScriptedApi, type ScriptedApi } from '../../scripted-api/server.ts';
import { bedSetting, createTestNamespace, kubeConfig, type TestNamespace } from '../../support/cluster.ts';
import { prepareOperator, type OperatorOptions, type OperatorUnderTest } from './operator-under-test.ts';
import { taskTools, type TaskTools } from './tasks.ts';

export interface TaskFixture {
  api: ScriptedApi;
  ns: TestNamespace;
  operator: OperatorUnderTest;
  redis: Redis;
  db: pg.Client;
  close(): Promise<void>;
}

export type FixtureOptions = {
  /** A Redis of the test's own (test/support/own-redis.ts) for the operator, its runners and the test's client; the bed's by default. */
  redisUrl?: string;
  /** More settings for the operator, e.g. DEFAULT_MODEL. */
  operatorEnv?: OperatorOptions['env'];
  /** Keys the scripted API accepts besides the default Secret's `test-key` (for Secrets of a test's own). */
  moreApiKeys?: string[];
};

/** For a test file or a describe: a fixture of its own, set up with its operator started before the tests and
 * closed after them. Call the returned function inside a test (or a later beforeAll). */
export function useTaskFixture(namespacePrefix: string, options: FixtureOptions = {}): () => TaskFixture & { tasks: TaskTools } {
  let started: (TaskFixture & { tasks: TaskTools }) | undefined;
  let fixture: TaskFixture | undefined;
  beforeAll(async () => {
    fixture = await setUpTaskFixture(namespacePrefix, options);
    await fixture.operator.start();
    started = { ...fixture, tasks: taskTools(fixture.ns, fixture.operator) };
  });
  afterAll(async () => {
    await fixture?.close();
  });
  return () => {
    if (!started) throw new Error(`the ${namespacePrefix} fixture is not set up: use it inside a test or a later beforeAll`);
    return started;
  };
}

export async function setUpTaskFixture(namespacePrefix: string, options: FixtureOptions = {}): Promise<TaskFixture> {
  // Every kind: the operator caches cron tasks and ClaudePolicies too.
  await installCrdsForUse(kubeConfig());
  const api = await startScriptedApi({ apiKey: ['test-key', ...(options.moreApiKeys ?? [])] });
  // Restricted: every task pod the operator makes must pass the profile to be admitted.
  const ns = await createTestNamespace(namespacePrefix, { 'pod-security.kubernetes.io/enforce': 'restricted' });
  await ns.core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: 'anthropic-api-key' }, stringData: { 'api-key': 'test-key' } } });
  const redisUrl = options.redisUrl ?? bedSetting('REDIS_URL');
  const operator = await prepareOperator({
    watchNamespace: ns.name, anthropicBaseUrl: api.url, redisUrl, ...(options.operatorEnv ? { env: options.operatorEnv } : {}),
  });
  const redis = new Redis(redisUrl);
  const db = new pg.Client({ connectionString: bedSetting('DATABASE_URL') });
  await db.connect();
  return {
    api, ns, operator, redis, db,
    async close() {
      await operator.stop();
      await ns.delete();
      await operator.uninstall();
      await api.close();
      redis.disconnect();
      await db.end();
    },
  };
}
