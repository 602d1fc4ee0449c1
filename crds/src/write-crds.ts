// Writes crds/claudetask.yaml from the model: `node crds/src/write-crds.ts`.
import { writeFileSync } from 'node:fs';
import { claudeTaskCrdFile } from './files.ts';
import { claudeTaskCrdYaml } from './generate.ts';

writeFileSync(claudeTaskCrdFile, claudeTaskCrdYaml());
process.stdout.write(`wrote ${claudeTaskCrdFile.pathname}\n`);
