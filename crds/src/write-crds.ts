// Writes the CRD from the model, to crds/ and to the chart: `node crds/src/write-crds.ts`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedCrdFiles } from './files.ts';
import { claudeTaskCrdYaml } from './generate.ts';

for (const file of generatedCrdFiles) {
  mkdirSync(dirname(fileURLToPath(file)), { recursive: true });
  writeFileSync(file, claudeTaskCrdYaml());
  process.stdout.write(`wrote ${file.pathname}\n`);
}
