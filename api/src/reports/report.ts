// One run's report, as a stream of text: the header (outcome, timings, usage,
// the prompt), then every tool call and what it returned, in order, then the
// files changed and the final answer. Built from the task's record and its
// events, read one at a time, so memory stays bounded however long the run was;
// a renderer (json, md, html) turns each part into text. Everything the agent or
// the prompt wrote goes through redact() before any renderer sees it.
import type { TaskEventRecord } from '../../../packages/contracts/src/task-events.ts';
import type { ReportRecord } from '../../../packages/database/src/task-report.ts';
import { normalizeEvent } from '../events/normalized.ts';
import { contentBlocks, record as asRecord } from '../events/cli-event.ts';
import { fileEditingTools, filesChanged, type FileChange } from '../tasks/files-changed.ts';
import { redact } from './redact.ts';

export const maxToolInputChars = 4_000;
export const maxToolResultChars = 2_000;

export interface ReportHeader {
  namespace: string;
  name: string;
  uid: string;
  phase: string;
  reason?: string;
  message?: string;
  model?: string;
  prompt: string;
  createdAt: string;
  startTime?: string;
  completionTime?: string;
  duration?: string;
  attempts?: number;
  usage?: { inputTokens?: number; outputTokens?: number; cacheReadInputTokens?: number; cacheCreationInputTokens?: number; costUSD?: string; turns?: number };
  transitions: Array<{ from: string | null; to: string; reason: string | null; at: string }>;
}

export type ReportEntry =
  | { kind: 'tool_call'; seq: number; time: string; number: number; id: string; tool: string; input: string; truncated: boolean }
  | { kind: 'tool_result'; seq: number; time: string; number?: number; isError: boolean; content: string; truncated: boolean }
  | { kind: 'message'; seq: number; time: string; role: 'assistant' | 'user'; text: string }
  | { kind: 'error'; seq: number; time: string; code: string; message: string }
  | { kind: 'attempt_end'; seq: number; time: string; outcome: string; message: string };

export interface ReportFooter {
  toolCalls: number;
  events: number;
  filesChanged: FileChange[];
  answer: string | null;
}

export interface ReportRenderer {
  contentType: string;
  begin(header: ReportHeader): string;
  entry(entry: ReportEntry): string;
  end(footer: ReportFooter): string;
}

const str = (value: unknown) => (typeof value === 'string' ? value : undefined);
const num = (value: unknown) => (typeof value === 'number' ? value : undefined);

function trim(text: string, max: number): { text: string; truncated: boolean } {
  return text.length <= max ? { text, truncated: false } : { text: `${text.slice(0, max)}…`, truncated: true };
}

export function reportHeader(record: ReportRecord): ReportHeader {
  const status = record.status;
  const optional = <T>(key: string, value: T | undefined) => (value === undefined ? {} : { [key]: value });
  const usage = asRecord(status.usage);
  return {
    namespace: record.namespace, name: record.name, uid: record.uid, phase: record.phase,
    ...optional('reason', str(status.reason)), ...optional('message', str(status.message) && redact(str(status.message)!)),
    ...optional('model', str(status.model) ?? str(record.spec.model)),
    prompt: redact(str(record.spec.prompt) ?? ''),
    createdAt: record.createdAt.toISOString(),
    ...optional('startTime', str(status.startTime)), ...optional('completionTime', str(status.completionTime) ?? record.completedAt?.toISOString()),
    ...optional('duration', str(status.duration)), ...optional('attempts', num(status.attempts)),
    ...optional('usage', usage && {
      ...optional('inputTokens', num(usage.inputTokens)), ...optional('outputTokens', num(usage.outputTokens)),
      ...optional('cacheReadInputTokens', num(usage.cacheReadInputTokens)), ...optional('cacheCreationInputTokens', num(usage.cacheCreationInputTokens)),
      ...optional('costUSD', str(usage.costUSD)), ...optional('turns', num(usage.turns)),
    }),
    transitions: record.transitions.map((t) => ({ from: t.from, to: t.to, reason: t.reason, at: t.at.toISOString() })),
  };
}

/** The part of an event filesChanged() needs, or nothing: what is kept is one small record per file edit. */
function fileEvidence(event: TaskEventRecord): Pick<TaskEventRecord, 'type' | 'data'> | undefined {
  const data = asRecord(event.data);
  if (!data) return undefined;
  if (event.type === 'system' && typeof data.cwd === 'string') return { type: 'system', data: { cwd: data.cwd } };
  const keep = contentBlocks(data).filter((block) =>
    (event.type === 'assistant' && block.type === 'tool_use' && fileEditingTools.has(String(block.name)))
    || (event.type === 'user' && block.type === 'tool_result' && block.is_error === true));
  if (keep.length === 0) return undefined;
  return { type: event.type, data: { message: { content: keep.map((block) => ({ ...block, content: undefined })) } } };
}

export async function* renderReport(record: ReportRecord, events: AsyncIterable<TaskEventRecord>, renderer: ReportRenderer): AsyncGenerator<string> {
  yield renderer.begin(reportHeader(record));
  const numbers = new Map<string, number>();
  const evidence: Array<Pick<TaskEventRecord, 'type' | 'data'>> = [];
  let answer: string | null = null;
  let count = 0;
  let seen = 0;
  for await (const event of events) {
    seen++;
    const kept = fileEvidence(event);
    if (kept) evidence.push(kept);
    for (const item of normalizeEvent(event)) {
      const at = { seq: item.seq, time: item.time };
      switch (item.type) {
        case 'tool_use': {
          count++;
          if (item.id) numbers.set(item.id, count);
          const input = trim(redact(JSON.stringify(item.input, null, 2) ?? ''), maxToolInputChars);
          yield renderer.entry({ kind: 'tool_call', ...at, number: count, id: item.id, tool: item.name, input: input.text, truncated: input.truncated });
          break;
        }
        case 'tool_result': {
          const content = trim(redact(item.content), maxToolResultChars);
          const number = numbers.get(item.toolUseId);
          numbers.delete(item.toolUseId);
          yield renderer.entry({ kind: 'tool_result', ...at, ...(number === undefined ? {} : { number }), isError: item.isError, content: content.text, truncated: content.truncated });
          break;
        }
        case 'message':
          yield renderer.entry({ kind: 'message', ...at, role: item.role, text: redact(item.text) });
          break;
        case 'error':
          yield renderer.entry({ kind: 'error', ...at, code: item.code, message: redact(item.message) });
          break;
        case 'complete':
          if (item.result !== null) answer = item.result;
          yield renderer.entry({ kind: 'attempt_end', ...at, outcome: item.outcome, message: redact(item.message) });
          break;
        default:
          break;
      }
    }
  }
  const final = record.result ?? answer;
  yield renderer.end({ toolCalls: count, events: seen, filesChanged: filesChanged(evidence), answer: final === null ? null : redact(final) });
}
