// Turns a message plan into what goes on the wire: a JSON message for
// `stream: false`, or the SSE event sequence for `stream: true`.
import type { ResponseMessage, TextBlock, ToolUseBlock } from './messages-api.ts';
import type { MessagePlan } from './scenarios.ts';

export interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

export function renderMessage(plan: MessagePlan, id: string, model: string): ResponseMessage {
  const content: Array<TextBlock | ToolUseBlock> = plan.blocks.map((block) =>
    block.type === 'text' ? { type: 'text', text: block.chunks.join('') } : { ...block },
  );
  return { id, type: 'message', role: 'assistant', model, content, stop_reason: plan.stopReason, stop_sequence: null, usage: plan.usage };
}

/** The stream the real API sends: message_start (input usage, output_tokens 1),
 * per block a start, its deltas and a stop, then message_delta with the stop reason
 * and the final usage, then message_stop. */
export function renderEvents(plan: MessagePlan, id: string, model: string): SseEvent[] {
  const events: SseEvent[] = [
    {
      event: 'message_start',
      data: {
        type: 'message_start',
        message: {
          id,
          type: 'message',
          role: 'assistant',
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { ...plan.usage, output_tokens: 1 },
        },
      },
    },
  ];
  plan.blocks.forEach((block, index) => {
    if (block.type === 'text') {
      events.push({ event: 'content_block_start', data: { type: 'content_block_start', index, content_block: { type: 'text', text: '' } } });
      for (const text of block.chunks) {
        events.push({ event: 'content_block_delta', data: { type: 'content_block_delta', index, delta: { type: 'text_delta', text } } });
      }
    } else {
      events.push({
        event: 'content_block_start',
        data: { type: 'content_block_start', index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } },
      });
      events.push({
        event: 'content_block_delta',
        data: { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } },
      });
    }
    events.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index } });
  });
  events.push({
    event: 'message_delta',
    data: { type: 'message_delta', delta: { stop_reason: plan.stopReason, stop_sequence: null }, usage: plan.usage },
  });
  events.push({ event: 'message_stop', data: { type: 'message_stop' } });
  return events;
}

export function formatSse(event: SseEvent): string {
  return `event: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

/** A rough token count for count_tokens: a quarter of the request's JSON length. */
export function estimateTokens(body: unknown): number {
  return Math.max(1, Math.ceil(JSON.stringify(body ?? {}).length / 4));
}
