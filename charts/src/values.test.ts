import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { loadYaml } from '@kubernetes/client-node';
import { ChartValuesSchema, valuesJsonSchema } from './values.ts';
import { valuesSchemaFile } from './write-values-schema.ts';

const defaults = loadYaml<unknown>(readFileSync(new URL('../claude-operator/values.yaml', import.meta.url), 'utf8'));

describe('the chart\'s values model', () => {
  test('values.yaml is valid by it: every default has its key in the model, of its type', () => {
    const parsed = ChartValuesSchema.safeParse(defaults);
    expect(parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([]);
  });

  test('values.schema.json is the one the model makes (run node charts/src/write-values-schema.ts)', () => {
    expect(readFileSync(valuesSchemaFile, 'utf8')).toBe(valuesJsonSchema());
  });

  test.each([
    ['a misspelt key', { operator: { replicass: 3 } }, 'operator'],
    ['a number as a word', { operator: { replicas: 'two' } }, 'operator.replicas'],
    ['an unknown mode', { operator: { runnerRedisUsers: 'some' } }, 'operator.runnerRedisUsers'],
    ['a system: user prefix', { api: { impersonation: { userPrefix: 'system:' } } }, 'api.impersonation.userPrefix'],
    ['the runner image as one reference, as before the images had their own values', { runner: { image: 'ghcr.io/claude-operator/runner:0.1.0' } }, 'runner.image'],
    ['an image without a repository', { api: { image: { repository: '', tag: 'dev', pullPolicy: 'Always' } } }, 'api.image.repository'],
    ['an unknown pull policy', { operator: { image: { repository: 'operator', tag: '', pullPolicy: 'Sometimes' } } }, 'operator.image.pullPolicy'],
  ])('refuses %s, naming where', (_case, override, where) => {
    const merged = structuredClone(defaults) as Record<string, Record<string, unknown>>;
    for (const [section, values] of Object.entries(override)) merged[section] = { ...merged[section], ...values };
    const parsed = ChartValuesSchema.safeParse(merged);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path.join('.'))).toContain(where);
  });

  test('refuses the one top-level image of before, naming it: each component has its own', () => {
    const parsed = ChartValuesSchema.safeParse({ ...(defaults as object), image: { repository: 'ghcr.io/claude-operator/operator', tag: '' } });
    expect(parsed.error?.issues).toEqual([expect.objectContaining({ code: 'unrecognized_keys', keys: ['image'], path: [] })]);
  });
});
