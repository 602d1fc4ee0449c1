// The files a task changed, derived from its history: every Write, Edit,
// MultiEdit or NotebookEdit tool_use the agent made (in `assistant` events),
// unless the matching tool_result (in a `user` event) says it failed. Paths are
// given relative to the session's working directory (the `system` init event's
// `cwd`) when they are inside it.
import path from 'node:path';
import type { TaskEventRecord } from '../../../packages/contracts/src/task-events.ts';
import { contentBlocks, record } from '../events/cli-event.ts';

export const fileEditingTools: ReadonlySet<string> = new Set(['Write', 'Edit', 'MultiEdit', 'NotebookEdit']);

export interface FileChange {
  path: string;
  /** The tools that changed it, in the order first used. */
  tools: string[];
  /** How many successful changes. */
  changes: number;
}


interface ToolUse { id: string; name: string; file: string }

export function filesChanged(events: Iterable<Pick<TaskEventRecord, 'type' | 'data'>>): FileChange[] {
  let cwd: string | undefined;
  const uses: ToolUse[] = [];
  const failed = new Set<string>();
  for (const event of events) {
    const data = record(event.data);
    if (!data) continue;
    if (event.type === 'system' && typeof data.cwd === 'string') cwd ??= data.cwd;
    for (const block of contentBlocks(data)) {
      if (event.type === 'assistant' && block.type === 'tool_use' && typeof block.name === 'string' && fileEditingTools.has(block.name)) {
        const input = record(block.input);
        const file = input && (typeof input.file_path === 'string' ? input.file_path : typeof input.notebook_path === 'string' ? input.notebook_path : undefined);
        if (file) uses.push({ id: typeof block.id === 'string' ? block.id : '', name: block.name, file });
      }
      if (event.type === 'user' && block.type === 'tool_result' && block.is_error === true && typeof block.tool_use_id === 'string') {
        failed.add(block.tool_use_id);
      }
    }
  }
  const byPath = new Map<string, FileChange>();
  for (const use of uses) {
    if (use.id && failed.has(use.id)) continue;
    const shown = relativeTo(cwd, use.file);
    const change = byPath.get(shown) ?? { path: shown, tools: [], changes: 0 };
    if (!change.tools.includes(use.name)) change.tools.push(use.name);
    change.changes++;
    byPath.set(shown, change);
  }
  return [...byPath.values()];
}

function relativeTo(cwd: string | undefined, file: string): string {
  if (!cwd || !path.isAbsolute(file)) return file;
  const relative = path.relative(cwd, file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}
