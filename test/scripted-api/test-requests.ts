// Builders of Messages requests shaped like the ones the CLI 2.1.328 sends, for unit tests.
import type { InputMessage, MessagesRequest, ToolResultBlock } from './messages-api.ts';

const reminder = { type: 'text', text: '<system-reminder>\nAttribution ...\n</system-reminder>\n' };
const environment: InputMessage = {
  role: 'system',
  content: [{ type: 'text', text: '# Environment\n - Primary working directory: /work/space\n - Platform: linux' }],
};
export const cliTools = [{ name: 'Bash' }, { name: 'Edit' }, { name: 'Read' }, { name: 'Write' }];

/** A first turn: reminder + prompt, then the environment as a system message. */
export function promptRequest(prompt: string, extra: Partial<MessagesRequest> = {}): MessagesRequest {
  return {
    model: 'claude-opus-5-5',
    max_tokens: 128_000,
    stream: true,
    tools: cliTools,
    messages: [{ role: 'user', content: [reminder, { type: 'text', text: prompt }] }, environment],
    ...extra,
  };
}

/** The request after the CLI ran the tool of each given result, in order. */
export function afterToolResults(request: MessagesRequest, results: Array<{ text: string; isError?: boolean }>): MessagesRequest {
  const messages = [...(request.messages ?? [])];
  results.forEach((result, i) => {
    const id = `toolu_${i}`;
    messages.push({ role: 'assistant', content: [{ type: 'tool_use', id, name: 'Tool', input: {} }] });
    const block: ToolResultBlock = { type: 'tool_result', tool_use_id: id, content: result.text, is_error: result.isError ?? false };
    messages.push({ role: 'user', content: [block, reminder] });
  });
  return { ...request, messages };
}

/** A later prompt in the same conversation (stream-json input or --resume). */
export function nextPrompt(request: MessagesRequest, prompt: string): MessagesRequest {
  const messages = [...(request.messages ?? [])];
  messages.push({ role: 'assistant', content: [{ type: 'text', text: 'done' }] });
  messages.push({ role: 'user', content: prompt });
  return { ...request, messages };
}
