// A ClaudeTask as the API shows it (kube/object-view.ts).
import { terminalPhases, type ClaudeTask } from '../../../crds/src/claude-task.ts';
import { objectPath, objectView } from '../kube/object-view.ts';

export function taskView(task: ClaudeTask) {
  return objectView(task);
}

export function isTerminal(task: ClaudeTask): boolean {
  return terminalPhases.has(task.status?.phase ?? '');
}

export function taskPath(namespace: string, name: string): string {
  return objectPath('tasks', namespace, name);
}
