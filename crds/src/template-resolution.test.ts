import { describe, expect, test } from '@jest/globals';
import type { ClaudeTaskTemplateSpec } from './claude-task-template.ts';
import { resolveTemplate } from './template-resolution.ts';

const review: ClaudeTaskTemplateSpec = {
  description: 'Review a pull request',
  prompt: 'Review PR {{pr}} in {{repo}}',
  model: 'claude-sonnet-4-5',
  maxTurns: 5,
  parameters: [
    { name: 'pr', required: true, pattern: '[0-9]+' },
    { name: 'repo', default: 'claude-operator' },
    { name: 'note' },
  ],
};

describe('resolveTemplate', () => {
  test('the template\'s fields, the given values and the defaults make the spec', () => {
    expect(resolveTemplate('review', review, { templateRef: { name: 'review' }, variables: { pr: '42' } })).toEqual({
      ok: true,
      spec: { prompt: 'Review PR {{pr}} in {{repo}}', model: 'claude-sonnet-4-5', maxTurns: 5, variables: { pr: '42', repo: 'claude-operator' } },
    });
  });

  test('the task\'s own fields win over the template\'s, cancel and templateRef stay out', () => {
    const resolved = resolveTemplate('review', review, { templateRef: { name: 'review' }, variables: { pr: '1' }, maxTurns: 9, cancel: false });
    expect(resolved.ok && resolved.spec).toMatchObject({ maxTurns: 9, model: 'claude-sonnet-4-5' });
    expect(resolved.ok && Object.keys(resolved.spec)).not.toEqual(expect.arrayContaining(['cancel', 'templateRef']));
  });

  test.each([
    ['a missing required parameter is named', { note: 'x' }, 'TemplateParameterMissing', 'template review requires parameter "pr": set it in spec.variables'],
    ['a value failing its pattern (which must match the whole value)', { pr: '42a' }, 'TemplateParameterInvalid', 'template review: pr must match [0-9]+'],
    ['an undeclared variable', { pr: '1', prr: '2' }, 'TemplateParameterUnknown', 'template review has no parameter "prr" (it declares "pr", "repo", "note")'],
  ])('%s', (_case, variables, reason, message) => {
    expect(resolveTemplate('review', review, { templateRef: { name: 'review' }, variables })).toEqual({ ok: false, reason, message });
  });

  test('a template without a prompt needs the task to give one', () => {
    const { prompt: _prompt, ...noPrompt } = review;
    expect(resolveTemplate('review', noPrompt, { variables: { pr: '1' } })).toMatchObject({ ok: false, reason: 'TemplateHasNoPrompt' });
    expect(resolveTemplate('review', noPrompt, { prompt: 'own', variables: { pr: '1' } })).toMatchObject({ ok: true, spec: { prompt: 'own' } });
  });

  test('a pattern that does not compile matches nothing', () => {
    const broken = { ...review, parameters: [{ name: 'pr', pattern: '(' }] };
    expect(resolveTemplate('review', broken, { variables: { pr: '1' } })).toMatchObject({ ok: false, reason: 'TemplateParameterInvalid' });
  });
});
