// What a ClaudeSession e2e file runs against: a task fixture (its namespace,
// the scripted API, an operator under the chart's RBAC, started), the REST API,
// and a submitter's token for that namespace.
import { startTestApi, token } from '../../../api/src/test-support.ts';
import type { ApiServer } from '../../../api/src/server.ts';
import { setUpTaskFixture, type FixtureOptions, type TaskFixture } from './task-fixture.ts';

export interface SessionStack {
  fixture: TaskFixture;
  api: ApiServer;
  bearer: string;
}

/** `options` as for a task fixture, e.g. operatorEnv for a small EVENT_STREAM_MAX_LENGTH. */
export async function startSessionStack(namespacePrefix: string, options: FixtureOptions = {}): Promise<SessionStack> {
  const fixture = await setUpTaskFixture(namespacePrefix, options);
  await fixture.operator.start();
  const { api } = await startTestApi();
  const bearer = await token({ tenant: 'team-a', namespaces: [fixture.ns.name], role: 'submitter' });
  return { fixture, api, bearer };
}

/** Stops what started; safe with a stack that failed to start. */
export async function stopSessionStack(stack: SessionStack | undefined): Promise<void> {
  await stack?.api.close();
  await stack?.fixture.close();
}
