import { expect, test } from '@jest/globals';
import { HttpMethod, PatchStrategy, RequestContext, setHeaderOptions, type ConfigurationOptions } from '@kubernetes/client-node';
import type { Caller } from '../auth/caller.ts';
import { actors, impersonationOf, impersonationOptions } from './impersonation.ts';

const bob: Caller = { subject: 'bob', tenant: 't1', namespaces: ['team'], role: 'submitter' };

/** The headers a request gets from the options' middleware, as the client runs it before sending. */
async function headersAfter(options: ConfigurationOptions | undefined): Promise<Record<string, string>> {
  let request = new RequestContext('https://apiserver/apis/claude-operator.io/v1alpha1/namespaces/team/claudetasks', HttpMethod.POST);
  for (const middleware of (options?.middleware ?? []) as Array<{ pre(context: RequestContext): { toPromise(): Promise<RequestContext> } }>) {
    request = await middleware.pre(request).toPromise();
  }
  return request.getHeaders() as Record<string, string>;
}

test('the user and the tenant group carry the prefix, so a sub cannot name a user of the cluster', () => {
  expect(impersonationOf(bob, 'claude-api:')).toEqual({ user: 'claude-api:bob', group: 'claude-api:tenant:t1' });
  expect(impersonationOf({ subject: 'system:admin', tenant: 'system:masters' }, 'claude-api:'))
    .toEqual({ user: 'claude-api:system:admin', group: 'claude-api:tenant:system:masters' });
});

test('with impersonation on, a write carries Impersonate-User and Impersonate-Group, beside the options it had', async () => {
  const writers = actors({ API_IMPERSONATION: 'on', API_IMPERSONATION_USER_PREFIX: 'claude-api:' });
  expect(await headersAfter(writers.optionsFor(bob))).toEqual({ 'Impersonate-User': 'claude-api:bob', 'Impersonate-Group': 'claude-api:tenant:t1' });
  const patch = writers.optionsFor(bob, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  expect(await headersAfter(patch)).toEqual({
    'Content-Type': PatchStrategy.MergePatch, 'Impersonate-User': 'claude-api:bob', 'Impersonate-Group': 'claude-api:tenant:t1',
  });
  // Appended to the client's own middleware (its User-Agent), not in place of it.
  expect(patch?.middlewareMergeStrategy).toBe('append');
});

test('with impersonation off, a write has only the options it had: the API\'s own identity', async () => {
  const writers = actors({ API_IMPERSONATION: 'off', API_IMPERSONATION_USER_PREFIX: 'claude-api:' });
  expect(writers.optionsFor(bob)).toBeUndefined();
  expect(await headersAfter(writers.optionsFor(bob, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)))).toEqual({ 'Content-Type': PatchStrategy.MergePatch });
});

test('another prefix is used as it is', async () => {
  expect(await headersAfter(impersonationOptions(impersonationOf(bob, 'oidc#'))))
    .toEqual({ 'Impersonate-User': 'oidc#bob', 'Impersonate-Group': 'oidc#tenant:t1' });
});
