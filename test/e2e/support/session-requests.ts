// What the scripted Messages API saw of a ClaudeSession's conversation: the CLI
// names the session (its uid) in every request, and each turn's request carries
// the messages and answers before it, which is how the e2e tests see context.
import { expect } from '@jest/globals';
import type { ClaudeSession } from '../../../crds/src/claude-session.ts';
import type { RecordedRequest } from '../../scripted-api/server.ts';

/** The session's requests to the model, main-model calls only. */
export function requestsOf(requests: readonly RecordedRequest[], session: ClaudeSession): RecordedRequest[] {
  return requests.filter((request) => request.path.startsWith('/v1/messages')
    && request.headers['x-claude-code-session-id'] === session.metadata.uid
    && !['side', 'count-tokens'].includes(request.scenario));
}

/** Every text of the user's messages and the assistant's answers the request carried, in order. */
export function conversationTexts(request: RecordedRequest): string[] {
  const messages = (request.body as { messages?: Array<{ role: string; content: string | Array<{ type: string; text?: string }> }> }).messages ?? [];
  return messages.flatMap((message) => (typeof message.content === 'string'
    ? [message.content]
    : message.content.filter((block) => block.type === 'text' && block.text !== undefined).map((block) => block.text!)));
}

/** The first request to the model that carries `text`: the first model call of the turn that answered it. */
export function turnRequest(requests: readonly RecordedRequest[], session: ClaudeSession, text: string): RecordedRequest | undefined {
  return requestsOf(requests, session).find((request) => conversationTexts(request).some((said) => said.includes(text)));
}

/** The request carried each of `texts` in its conversation: the context of the turn. */
export function carries(request: RecordedRequest | undefined, ...texts: string[]): void {
  expect(request).toBeDefined();
  const all = conversationTexts(request!).join('\n');
  for (const text of texts) expect(all).toContain(text);
}
