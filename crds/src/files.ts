import type { KindDefinition } from './kinds.ts';

/** The generated CRD, committed; crds/src/write-crds.ts writes it. */
export function crdFile(kind: KindDefinition): URL {
  return new URL(`../${kind.file}`, import.meta.url);
}

/** The same CRD in the Helm chart's crds/ folder (Helm installs it before the templates). */
export function chartCrdFile(kind: KindDefinition): URL {
  return new URL(`../../charts/claude-operator/crds/${kind.file}`, import.meta.url);
}

export function generatedCrdFiles(kind: KindDefinition): URL[] {
  return [crdFile(kind), chartCrdFile(kind)];
}
