// Partial messages for UIs: the runner PUBLISHes the CLI's partial-message
// chunks (`stream_event` lines of --include-partial-messages) on an ephemeral
// Pub/Sub channel of the task. They are never stored: a WebSocket client that
// asks (?partial=true) gets them as they come, marked `partial: true` and
// without a seq, and nobody ever gets them replayed. The whole message follows
// as an ordinary event (`assistant`), with its seq.
import { z } from 'zod';
import { record, stringOf } from './cli-event.ts';
import type { EventView } from './normalized.ts';

export const PartialMessageSchema = z.union([
  z.object({ partial: z.literal(true), type: z.string().describe('The CLI line\'s type: stream_event.'), data: z.unknown().describe('The CLI line as published.') })
    .describe('Raw view.'),
  z.object({ partial: z.literal(true), type: z.literal('message'), role: z.literal('assistant'), text: z.string().describe('The next piece of the text.') })
    .describe('Normalized view: text deltas only.'),
]).describe('A partial-message chunk (?partial=true): no seq, never stored or replayed; the whole message follows as an event.');

/**
 * The WebSocket message for one published chunk, undefined when there is
 * nothing to send. The chunk is the CLI's line as JSON (or that line as the
 * `data` of an envelope). Raw view: `{partial: true, type, data}`. Normalized
 * view: text deltas only, as `{partial: true, type: 'message', role: 'assistant', text}`.
 */
export function partialMessage(published: string, view: EventView): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(published);
  } catch {
    return undefined;
  }
  const outer = record(value);
  const line = record(outer?.event) ? outer : (record(outer?.data) ?? outer);
  if (!line || typeof line.type !== 'string') return undefined;
  if (view === 'raw') return JSON.stringify({ partial: true, type: line.type, data: line });
  const event = record(line.event);
  const delta = record(event?.delta);
  const text = event?.type === 'content_block_delta' && delta?.type === 'text_delta' ? stringOf(delta.text) : undefined;
  return text ? JSON.stringify({ partial: true, type: 'message', role: 'assistant', text }) : undefined;
}
