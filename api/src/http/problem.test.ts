import fs from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { ApiException } from '@kubernetes/client-node';
import { z } from 'zod';
import { AuthenticationError } from '../auth/caller.ts';
import { Problem, parseOr400, problemKinds, problemOf, problemTypeBase } from './problem.ts';

function kubeError(code: number, body: unknown) {
  return new ApiException(code, 'x', body, {});
}

describe('problemOf', () => {
  test.each([
    [new AuthenticationError('token expired'), 401, 'unauthorized'],
    [kubeError(404, { kind: 'Status', reason: 'NotFound', message: 'claudetasks "x" not found' }), 404, 'not-found'],
    [kubeError(409, { kind: 'Status', reason: 'AlreadyExists', message: 'claudetasks "x" already exists' }), 409, 'conflict'],
    [kubeError(422, { kind: 'Status', reason: 'Invalid', message: 'ClaudeTask "x" is invalid: spec.prompt: Required value',
      details: { causes: [{ field: 'spec.prompt', message: 'Required value', reason: 'FieldValueRequired' }] } }), 422, 'invalid'],
    [kubeError(403, { kind: 'Status', reason: 'Forbidden', message: 'claudetasks.claude-operator.io "x" is forbidden: ValidatingAdmissionPolicy' }),
      403, 'refused-by-cluster'],
    // RBAC refusing an impersonated caller: the caller's 403.
    [kubeError(403, { kind: 'Status', reason: 'Forbidden', message: 'claudetasks.claude-operator.io is forbidden: User "claude-api:bob" cannot create resource "claudetasks" in API group "claude-operator.io" in the namespace "team"' }),
      403, 'refused-by-cluster'],
    // The API's own account not allowed to impersonate: a fault of the installation, not of the caller.
    [kubeError(403, { kind: 'Status', reason: 'Forbidden', message: 'users "claude-api:bob" is forbidden: User "system:serviceaccount:x:api" cannot impersonate resource "users" in API group "" at the cluster scope' }),
      500, 'internal-error'],
    [kubeError(410, '{"kind":"Status","reason":"Expired"}'), 410, 'gone'],
    [kubeError(500, 'boom'), 503, 'unavailable'],
    [Object.assign(new Error('request entity too large'), { status: 413, type: 'entity.too.large', expose: true }), 413, 'payload-too-large'],
    [Object.assign(new SyntaxError('Unexpected token'), { status: 400, type: 'entity.parse.failed', expose: true }), 400, 'bad-request'],
    [Object.assign(new Error('unsupported charset "UTF-7"'), { status: 415, type: 'charset.unsupported', expose: true }), 415, 'unsupported-media-type'],
    [Object.assign(new URIError('Failed to decode param'), { status: 400 }), 400, 'bad-request'],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }), 503, 'unavailable'],
    [new Error('Connection terminated unexpectedly'), 503, 'unavailable'],
    [new Error('timeout exceeded when trying to connect'), 503, 'unavailable'],
    [Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }), 503, 'unavailable'],
    [new Error('Connection is closed.'), 503, 'unavailable'],
    [Object.assign(new Error('duplicate key value'), { code: '23505' }), 500, 'internal-error'],
    [new Error('our own bug'), 500, 'internal-error'],
    ['a string thrown', 500, 'internal-error'],
  ])('%p → %d %s', (error, status, kind) => {
    const problem = problemOf(error);
    expect(problem.status).toBe(status);
    expect(problem.body().type).toBe(`${problemTypeBase}${kind}`);
  });

  test('422 keeps the apiserver message and its causes as issues', () => {
    const body = problemOf(kubeError(422, { message: 'ClaudeTask "x" is invalid: spec.x: bad',
      details: { causes: [{ field: 'spec.x', message: 'bad', reason: 'FieldValueInvalid' }] } })).body();
    expect(body).toMatchObject({ status: 422, detail: 'ClaudeTask "x" is invalid: spec.x: bad', issues: [{ path: 'spec.x', message: 'bad' }] });
  });

  test('403 keeps the apiserver message: a ClaudePolicy refusal names the policy and the rule', () => {
    const message = 'claudetasks.claude-operator.io "x" is forbidden: ValidatingAdmissionPolicy \'claudepolicy-a\' with binding \'claudepolicy-a\' '
      + 'denied request: ClaudePolicy a (maxTurns): maxTurns 51 is above the limit of 50';
    expect(problemOf(kubeError(403, { kind: 'Status', reason: 'Forbidden', message })).body()).toMatchObject({ status: 403, detail: message });
  });

  test('a 500 never shows its cause', () => {
    expect(JSON.stringify(problemOf(new Error('password=hunter2')).body())).not.toContain('hunter2');
  });
});

test('parseOr400 lists every issue with its path', () => {
  const schema = z.object({ a: z.string(), b: z.object({ c: z.number() }) });
  let thrown: unknown;
  try { parseOr400(schema, { a: 1, b: { c: 'x' } }, 'the body', ['body']); } catch (error) { thrown = error; }
  expect(thrown).toBeInstanceOf(Problem);
  expect((thrown as Problem).body()).toMatchObject({
    status: 400, type: `${problemTypeBase}validation-error`,
    issues: [expect.objectContaining({ path: 'body.a' }), expect.objectContaining({ path: 'body.b.c' })],
  });
});

test('api/README.md documents every problem type with its status', () => {
  const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const [kind, { status }] of Object.entries(problemKinds)) {
    expect(readme).toMatch(new RegExp(`^\\| \`${kind}\` \\| ${status} \\|`, 'm'));
  }
});
