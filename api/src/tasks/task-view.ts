// A ClaudeTask as the API shows it: what Kubernetes holds, without managedFields
// and annotations of other tools; a task the operator has not seen yet is Pending.
import { terminalPhases, type ClaudeTask } from '../../../crds/src/claude-task.ts';

export function taskView(task: ClaudeTask) {
  const { name = '', namespace = '', uid = '', labels, creationTimestamp, resourceVersion, deletionTimestamp } = task.metadata;
  return {
    apiVersion: task.apiVersion,
    kind: task.kind,
    metadata: {
      name, namespace, uid,
      ...(labels ? { labels } : {}),
      ...(creationTimestamp ? { creationTimestamp: String(creationTimestamp instanceof Date ? creationTimestamp.toISOString() : creationTimestamp) } : {}),
      ...(resourceVersion ? { resourceVersion } : {}),
      ...(deletionTimestamp ? { deletionTimestamp: String(deletionTimestamp instanceof Date ? deletionTimestamp.toISOString() : deletionTimestamp) } : {}),
    },
    spec: task.spec,
    status: { phase: 'Pending', ...task.status },
  };
}

export function isTerminal(task: ClaudeTask): boolean {
  return terminalPhases.has(task.status?.phase ?? '');
}

export function taskPath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/tasks/${encodeURIComponent(name)}`;
}
