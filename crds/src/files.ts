/** The generated CRD, committed; crds/src/write-crds.ts writes it. */
export const claudeTaskCrdFile = new URL('../claudetask.yaml', import.meta.url);
