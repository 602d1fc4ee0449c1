// A task made from a template runs what was resolved on its first pass
// (status.resolvedSpec), never the template as it is now. Pure.
import type { ClaudeTask, ClaudeTaskStatus } from '../../crds/src/claude-task.ts';

/** What status keeps of the resolution: computeStatus rebuilds everything else on every pass. */
export function resolutionOf(status: ClaudeTaskStatus | undefined): Pick<ClaudeTaskStatus, 'template' | 'resolvedSpec'> {
  return {
    ...(status?.template ? { template: status.template } : {}),
    ...(status?.resolvedSpec ? { resolvedSpec: status.resolvedSpec } : {}),
  };
}

/** A task made from a template runs the spec recorded when it was resolved, never the template as it is now; spec.cancel stays the task's. */
export function asResolved(task: ClaudeTask): ClaudeTask {
  const resolved = task.status?.resolvedSpec;
  if (!resolved) return task;
  return { ...task, spec: { ...resolved, ...(task.spec.cancel !== undefined ? { cancel: task.spec.cancel } : {}) } };
}
