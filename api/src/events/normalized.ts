// The normalized event view (?view=normalized on the WebSocket and on the REST
// history), for clients that do not want the CLI's raw shapes. A pure mapping
// from one stored event (a CLI stream-json line or a runner.* event) to zero or
// more normalized ones, each keeping the seq of the event it came from:
//
//   message      assistant or user text               (assistant/user text blocks)
//   tool_use     the agent calls a tool               (assistant tool_use blocks)
//   tool_result  what the tool answered               (user tool_result blocks)
//   progress     the run moves on                     (system/*, runner.started, runner.workspace_ready, runner.cli_stderr)
//   complete     an attempt ended: outcome and result (runner.completed)
//   error        something failed                     (a failed CLI result, runner.malformed_line)
//
// Events with nothing for a reader (a successful CLI result, whose text the
// runner.completed after it repeats; thinking blocks; partial stream_event
// chunks; types this mapping does not know) give none, so normalized seqs have
// gaps; resuming with from=<seq> works the same as in the raw view.
import { z } from 'zod';
import { UsageSchema } from '../../../crds/src/claude-task.ts';
import { outcomes, type TaskEventRecord } from '../../../packages/contracts/src/task-events.ts';
import { contentBlocks, record, stringOf, type JsonRecord } from './cli-event.ts';

const base = {
  seq: z.number().int().min(1).describe('The seq of the stored event this came from (several may share one).'),
  time: z.string(),
};

export const NormalizedEventSchema = z.discriminatedUnion('type', [
  z.object({ ...base, type: z.literal('message'), role: z.enum(['assistant', 'user']), text: z.string() }),
  z.object({ ...base, type: z.literal('tool_use'), id: z.string(), name: z.string(), input: z.unknown() }),
  z.object({ ...base, type: z.literal('tool_result'), toolUseId: z.string(), isError: z.boolean(), content: z.string() }),
  z.object({
    ...base, type: z.literal('progress'),
    stage: z.string().describe('init, started, workspace_ready, stderr, or the CLI system event subtype.'),
    message: z.string(),
    model: z.string().optional(),
    sessionId: z.string().optional(),
  }),
  z.object({
    ...base, type: z.literal('complete'), outcome: z.enum(outcomes), message: z.string(),
    result: z.string().nullable(), usage: UsageSchema.nullable(), sessionId: z.string().nullable(),
  }),
  z.object({ ...base, type: z.literal('error'), code: z.string(), message: z.string() }),
]).describe('One event in the normalized view.');

export type NormalizedEvent = z.infer<typeof NormalizedEventSchema>;

export const eventViews = ['raw', 'normalized'] as const;
export type EventView = (typeof eventViews)[number];


type Body = NormalizedEvent extends infer E ? E extends NormalizedEvent ? Omit<E, 'seq' | 'time'> : never : never;

export function normalizeEvent(event: TaskEventRecord): NormalizedEvent[] {
  const data = record(event.data) ?? {};
  return bodiesOf(event.type, data).map((body) => ({ seq: event.seq, time: event.time, ...body }) as NormalizedEvent);
}

function bodiesOf(type: string, data: JsonRecord): Body[] {
  switch (type) {
    case 'system': {
      const subtype = stringOf(data.subtype) ?? 'system';
      const model = stringOf(data.model);
      const sessionId = stringOf(data.session_id);
      if (subtype !== 'init') return [{ type: 'progress', stage: subtype, message: `Claude: ${subtype}` }];
      return [{ type: 'progress', stage: 'init', message: model ? `Claude started with ${model}` : 'Claude started',
        ...(model ? { model } : {}), ...(sessionId ? { sessionId } : {}) }];
    }
    case 'assistant':
      return messageBodies('assistant', data);
    case 'user':
      return messageBodies('user', data);
    case 'result': {
      const subtype = stringOf(data.subtype) ?? 'unknown';
      if (data.is_error !== true && subtype === 'success') return [];
      return [{ type: 'error', code: subtype, message: stringOf(data.result) ?? `Claude failed (${subtype})` }];
    }
    case 'runner.started': {
      const attempt = typeof data.attempt === 'number' ? data.attempt : undefined;
      const model = stringOf(data.model);
      return [{ type: 'progress', stage: 'started', message: attempt ? `attempt ${attempt} started` : 'task started', ...(model ? { model } : {}) }];
    }
    case 'runner.workspace_ready':
      return [{ type: 'progress', stage: 'workspace_ready', message: stringOf(data.git) ? `workspace cloned from ${stringOf(data.git)}` : 'workspace ready' }];
    case 'runner.cli_stderr':
      return [{ type: 'progress', stage: 'stderr', message: stringOf(data.line) ?? '' }];
    case 'runner.malformed_line':
      return [{ type: 'error', code: 'malformed_line', message: `the CLI wrote a line that is not an event: ${stringOf(data.error) ?? 'unreadable'}` }];
    case 'runner.completed': {
      const outcome = outcomes.find((known) => known === data.outcome) ?? 'failed';
      const usage = UsageSchema.safeParse(data.usage);
      return [{
        type: 'complete', outcome, message: stringOf(data.message) ?? outcome,
        result: stringOf(data.result) ?? null, usage: usage.success ? usage.data : null, sessionId: stringOf(data.sessionId) ?? null,
      }];
    }
    default:
      return [];
  }
}

function messageBodies(role: 'assistant' | 'user', data: JsonRecord): Body[] {
  const content = record(data.message)?.content;
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'message', role, text: content }];
  const bodies: Body[] = [];
  for (const block of contentBlocks(data)) {
    if (block.type === 'text' && typeof block.text === 'string' && block.text !== '') bodies.push({ type: 'message', role, text: block.text });
    else if (role === 'assistant' && block.type === 'tool_use') {
      bodies.push({ type: 'tool_use', id: stringOf(block.id) ?? '', name: stringOf(block.name) ?? 'unknown', input: block.input ?? {} });
    } else if (role === 'user' && block.type === 'tool_result') {
      bodies.push({ type: 'tool_result', toolUseId: stringOf(block.tool_use_id) ?? '', isError: block.is_error === true, content: resultText(block.content) });
    }
  }
  return bodies;
}

/** A tool_result's content: a string, or blocks of which the text ones are kept. */
function resultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((block) => {
    const value = record(block);
    if (value?.type === 'text') return stringOf(value.text) ?? '';
    return value?.type ? `[${String(value.type)}]` : '';
  }).filter((text) => text !== '').join('\n');
}
