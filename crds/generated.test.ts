// The committed CRDs must be what the models render today.
import { readFileSync } from 'node:fs';
import { expect, test } from '@jest/globals';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedCrdFiles } from './src/files.ts';
import { crdYaml } from './src/generate.ts';
import { kinds } from './src/kinds.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const files = kinds.flatMap((kind) => generatedCrdFiles(kind).map((file) => [path.relative(repoRoot, fileURLToPath(file)), kind.source, kind, file] as const));

test.each(files)('%s is up to date with %s', (_name, _source, kind, file) => {
  const committed = readFileSync(file, 'utf8');
  const rendered = crdYaml(kind);
  if (committed !== rendered) {
    const committedLines = committed.split('\n');
    const line = rendered.split('\n').findIndex((text, i) => text !== committedLines[i]);
    throw new Error(`${file.pathname} is stale (first difference at line ${line + 1}): regenerate it with \`node crds/src/write-crds.ts\` and commit it`);
  }
  expect(committed).toBe(rendered);
});

test.each(kinds.map((kind) => [kind.kind, kind] as const))('rendering %s is deterministic', (_name, kind) => {
  expect(crdYaml(kind)).toBe(crdYaml(kind));
});
