import { describe, expect, test } from '@jest/globals';
import { maxJsonSchemaBytes } from './agent-spec.ts';
import { ClaudeTaskSpecSchema } from './claude-task.ts';

/** The problems zod finds in a spec, as `path: message`. */
function problems(spec: Record<string, unknown>): string[] {
  const parsed = ClaudeTaskSpecSchema.safeParse({ prompt: 'p', ...spec });
  return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('the headless CLI fields', () => {
  test.each(['5.00', '5', '0.01', '0.001', '12.5', '00.10'])('maxBudgetUSD %s is a budget', (maxBudgetUSD) => {
    expect(problems({ maxBudgetUSD })).toEqual([]);
  });

  test.each(['0', '0.00', '-1', '1e3', '.5', '5.', '$5', ''])('maxBudgetUSD %j is not', (maxBudgetUSD) => {
    expect(problems({ maxBudgetUSD })).toEqual(['maxBudgetUSD: must be a decimal number of US dollars above 0, e.g. 5.00']);
  });

  test('values of the CLI\'s list options cannot pass for options', () => {
    expect(problems({ allowedTools: ['Read', '--dangerously-skip-permissions'], disallowedTools: ['-x'], addDirs: ['--help'] })).toEqual([
      'allowedTools.1: must not start with "-"', 'disallowedTools.0: must not start with "-"', 'addDirs.0: must be an absolute path',
    ]);
  });

  test('every permission mode of the pinned CLI, and default for older manifests', () => {
    for (const permissionMode of ['default', 'manual', 'acceptEdits', 'plan', 'auto', 'dontAsk', 'bypassPermissions']) {
      expect(problems({ permissionMode })).toEqual([]);
    }
    expect(problems({ permissionMode: 'yolo' })).toHaveLength(1);
  });

  test('settings and jsonSchema are JSON objects; a JSON Schema must fit one argument', () => {
    expect(problems({ settings: { permissions: { deny: ['Write'] } }, jsonSchema: { type: 'object' } })).toEqual([]);
    expect(problems({ settings: ['x'] })).toHaveLength(1);
    const big = { type: 'object', description: 'é'.repeat(maxJsonSchemaBytes / 2) };
    expect(problems({ jsonSchema: big })).toEqual([`jsonSchema: must be at most ${maxJsonSchemaBytes} bytes as JSON`]);
  });
});
