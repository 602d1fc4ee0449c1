// The committed CRD must be what the model renders today.
import { readFileSync } from 'node:fs';
import { expect, test } from '@jest/globals';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedCrdFiles } from './src/files.ts';
import { claudeTaskCrdYaml } from './src/generate.ts';

test.each(generatedCrdFiles.map((file) => [path.relative(fileURLToPath(new URL('..', import.meta.url)), fileURLToPath(file)), file] as const))(
  '%s is up to date with crds/src/claude-task.ts', (_name, file) => {
    const committed = readFileSync(file, 'utf8');
    const rendered = claudeTaskCrdYaml();
    if (committed !== rendered) {
      const committedLines = committed.split('\n');
      const line = rendered.split('\n').findIndex((text, i) => text !== committedLines[i]);
      throw new Error(`${file.pathname} is stale (first difference at line ${line + 1}): regenerate it with \`node crds/src/write-crds.ts\` and commit it`);
    }
    expect(committed).toBe(rendered);
  });

test('rendering is deterministic', () => {
  expect(claudeTaskCrdYaml()).toBe(claudeTaskCrdYaml());
});
