import { expect, test } from '@jest/globals';
import { toYaml } from './yaml.ts';

test('nested objects and arrays, with objects inside arrays', () => {
  expect(toYaml({ a: { b: 1, c: [true, null] }, d: [{ e: 'x', f: [] }, [1, 2]], g: {} })).toBe([
    'a:',
    '  b: 1',
    '  c:',
    '    - true',
    '    - null',
    'd:',
    '  - e: x',
    '    f: []',
    '  - - 1',
    '    - 2',
    'g: {}',
    '',
  ].join('\n'));
});

test('strings that YAML would read as something else are quoted', () => {
  const quoted = ['true', 'No', 'on', 'null', '1Gi', '0.5', '', ' lead', '.status.phase', 'a: b', '#x', "it's", 'line\nbreak', '- x', '*ref'];
  for (const text of quoted) {
    expect(toYaml({ k: text })).toBe(`k: ${JSON.stringify(text)}\n`);
  }
  expect(toYaml({ k: 'plain-string_1.2/x' })).toBe('k: plain-string_1.2/x\n');
  expect(toYaml({ k: 'caf\u00e9 \u2028' })).toBe('k: "caf\\u00e9 \\u2028"\n');
});

test('refuses values JSON has no form for', () => {
  expect(() => toYaml({ k: Number.NaN })).toThrow(/NaN/);
  expect(() => toYaml({ k: undefined })).toThrow(/undefined/);
});
