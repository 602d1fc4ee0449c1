import { describe, expect, it } from '@jest/globals';
import { ConfigError } from './errors.ts';
import { referencedVariables, renderPrompt } from './prompt-template.ts';

describe('renderPrompt', () => {
  const cases: Array<[string, string, Record<string, string>, string]> = [
    ['no placeholders', 'Fix the bug.', {}, 'Fix the bug.'],
    ['one variable', 'Fix {{issue}}.', { issue: '#12' }, 'Fix #12.'],
    ['spaces inside the braces', 'Fix {{ issue }}.', { issue: '#12' }, 'Fix #12.'],
    ['the same variable twice', '{{a}} and {{a}}', { a: 'x' }, 'x and x'],
    ['names with dots and dashes', '{{repo.name}}-{{ref-name}}', { 'repo.name': 'r', 'ref-name': 'main' }, 'r-main'],
    ['unused variables are fine', 'plain', { unused: 'x' }, 'plain'],
    ['a value with braces is not expanded again', '{{a}}', { a: '{{b}}' }, '{{b}}'],
    ['an empty value', '[{{a}}]', { a: '' }, '[]'],
    ['single braces stay', '{a} {{ }}', {}, '{a} {{ }}'],
    ['$ patterns in values are literal', '{{a}}', { a: '$& $1' }, '$& $1'],
  ];

  it.each(cases)('%s', (_name, template, variables, expected) => {
    expect(renderPrompt(template, variables)).toBe(expected);
  });

  it('names every missing variable in one error', () => {
    expect(() => renderPrompt('{{a}} {{b}} {{a}} {{c}}', { b: '1' })).toThrow(
      new ConfigError('the prompt references {{a}}, {{c}} but spec.variables does not define them'),
    );
  });

  it('does not take inherited properties for variables', () => {
    expect(() => renderPrompt('{{constructor}}', {})).toThrow(ConfigError);
  });

  it('lists referenced variables once each', () => {
    expect(referencedVariables('{{a}}{{b}}{{ a }}')).toEqual(['a', 'b']);
  });
});
