// Writes every kind's CRD from its model, to crds/ and to the chart: `node crds/src/write-crds.ts`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedCrdFiles } from './files.ts';
import { crdYaml } from './generate.ts';
import { kinds } from './kinds.ts';

for (const kind of kinds) {
  for (const file of generatedCrdFiles(kind)) {
    mkdirSync(dirname(fileURLToPath(file)), { recursive: true });
    writeFileSync(file, crdYaml(kind));
    process.stdout.write(`wrote ${file.pathname}\n`);
  }
}
