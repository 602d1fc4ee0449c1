// Writes charts/claude-operator/values.schema.json from the values model: `node charts/src/write-values-schema.ts`.
import { writeFileSync } from 'node:fs';
import { valuesJsonSchema } from './values.ts';

export const valuesSchemaFile = new URL('../claude-operator/values.schema.json', import.meta.url);

if (import.meta.main) {
  writeFileSync(valuesSchemaFile, valuesJsonSchema());
  process.stdout.write(`wrote ${valuesSchemaFile.pathname}\n`);
}
