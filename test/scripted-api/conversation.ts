// Reads what a scenario needs from a Messages request: the latest human prompt (and
// the directive in it), how far the tool loop has got since that prompt, and the
// working directory the CLI announced. Everything here is a pure function of the
// request body, which is what keeps concurrent conversations from interfering.
import { createHash } from 'node:crypto';
import type { ContentBlock, InputMessage, MessagesRequest, ToolResultBlock } from './messages-api.ts';

export interface Directive {
  name: string;
  args: Record<string, unknown>;
}

export type DirectiveParse = { ok: true; directive: Directive | undefined } | { ok: false; error: string };

// `[[scenario:NAME]]` or `[[scenario:NAME {"json":"args"}]]`.
const directivePattern = /\[\[scenario:([A-Za-z0-9_-]+)(?:\s+(\{[\s\S]*?\}))?\s*\]\]/;

export function parseDirective(text: string): DirectiveParse {
  const match = directivePattern.exec(text);
  if (match === null) return { ok: true, directive: undefined };
  const name = match[1] ?? '';
  const json = match[2];
  if (json === undefined) return { ok: true, directive: { name, args: {} } };
  try {
    const args: unknown = JSON.parse(json);
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      return { ok: false, error: `scenario ${name}: args must be a JSON object` };
    }
    return { ok: true, directive: { name, args: args as Record<string, unknown> } };
  } catch (error) {
    return { ok: false, error: `scenario ${name}: bad JSON args: ${(error as Error).message}` };
  }
}

function blocksOf(message: InputMessage): ContentBlock[] {
  return typeof message.content === 'string' ? [{ type: 'text', text: message.content }] : message.content;
}

function textOf(message: InputMessage): string {
  return blocksOf(message)
    .filter((block): block is { type: 'text'; text: string } => block.type === 'text' && typeof block.text === 'string')
    .map((block) => block.text)
    .join('\n');
}

/** A human prompt is a user message that carries text and no tool results; the
 * messages that answer a tool_use also carry text (system reminders), so the
 * absence of tool_result blocks is what tells them apart. */
function isPrompt(message: InputMessage): boolean {
  if (message.role !== 'user') return false;
  const blocks = blocksOf(message);
  return blocks.some((block) => block.type === 'text') && !blocks.some((block) => block.type === 'tool_result');
}

function latestPromptIndex(messages: InputMessage[]): number {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (message !== undefined && isPrompt(message)) return i;
  }
  return -1;
}

/** Text of the latest human prompt: the one the directive is read from. A later
 * prompt in the same session (stream-json input, --resume) picks its own scenario. */
export function latestPromptText(request: MessagesRequest): string {
  const messages = request.messages ?? [];
  const index = latestPromptIndex(messages);
  const message = messages[index];
  return message === undefined ? '' : textOf(message);
}

/** Text of the first user message: identifies a conversation when there is no session header. */
export function firstUserText(request: MessagesRequest): string {
  const first = (request.messages ?? []).find((message) => message.role === 'user');
  return first === undefined ? '' : textOf(first);
}

/** Tool results the CLI sent back since the latest prompt, oldest first: their
 * count is the step of the scenario's tool loop. */
export function toolResultsSincePrompt(request: MessagesRequest): ToolResultBlock[] {
  const messages = request.messages ?? [];
  const results: ToolResultBlock[] = [];
  for (const message of messages.slice(latestPromptIndex(messages) + 1)) {
    if (message.role !== 'user') continue;
    for (const block of blocksOf(message)) {
      if (block.type === 'tool_result') results.push(block as ToolResultBlock);
    }
  }
  return results;
}

export function toolResultText(result: ToolResultBlock): string {
  if (typeof result.content === 'string') return result.content;
  return (result.content ?? [])
    .map((part) => part.text)
    .filter((text): text is string => typeof text === 'string')
    .join('\n');
}

/** The CLI's environment section names the working directory; tools need absolute
 * paths, so relative scenario paths are resolved against it. It arrives in a
 * `system` message inside `messages` (2.1.328), older versions put it in `system`. */
export function workingDirectory(request: MessagesRequest): string | undefined {
  const texts: string[] = [];
  if (typeof request.system === 'string') texts.push(request.system);
  else if (Array.isArray(request.system)) texts.push(...request.system.map((block) => block.text));
  for (const message of request.messages ?? []) texts.push(textOf(message));
  for (const text of texts) {
    const match = /Primary working directory: (\S[^\n]*)/.exec(text);
    if (match?.[1] !== undefined) return match[1].trim();
  }
  return undefined;
}

export function hasAssistantTurn(request: MessagesRequest): boolean {
  return (request.messages ?? []).some((message) => message.role === 'assistant');
}

/** Side requests (titles, summaries) come without tools; they get a short answer
 * and never run or advance a scenario. */
export function isSideRequest(request: MessagesRequest): boolean {
  return !Array.isArray(request.tools) || request.tools.length === 0;
}

/** Identifies one prompt of one conversation, for the scenarios that count attempts
 * (fail N times, then succeed): the CLI's session header, else the first user message,
 * plus the prompt, so each prompt of a multi-turn session gets its own budget. */
export function attemptKey(request: MessagesRequest, sessionId: string | undefined): string {
  const conversation = sessionId ?? `first:${firstUserText(request)}`;
  return createHash('sha256').update(conversation).update('\0').update(latestPromptText(request)).digest('hex');
}
