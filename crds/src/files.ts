/** The generated CRD, committed; crds/src/write-crds.ts writes it. */
export const claudeTaskCrdFile = new URL('../claudetask.yaml', import.meta.url);

/** The same CRD in the Helm chart's crds/ folder (Helm installs it before the templates). */
export const chartCrdFile = new URL('../../charts/claude-operator/crds/claudetask.yaml', import.meta.url);

export const generatedCrdFiles = [claudeTaskCrdFile, chartCrdFile];
