// `engine: api`: one streamed Messages API turn, without tools, for tasks that only
// need an answer. Its events have the CLI's stream-json shapes (system/init,
// stream_event, assistant, result) so readers handle both engines alike, and the
// same CliRunSummary picks out session id, result and usage.
import crypto from 'node:crypto';
import Anthropic, { APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import type { ClaudeTaskSpec } from '../../crds/src/claude-task.ts';
import type { TaskEvent } from '../../packages/contracts/src/task-events.ts';
import type { Logger } from '../../packages/platform/src/logger.ts';
import { CliRunSummary } from './stream-json.ts';

export interface RunApiOptions {
  spec: ClaudeTaskSpec;
  prompt: string;
  apiKey: string;
  baseUrl: string | undefined;
  defaultModel: string;
  maxTokens: number;
  signal: AbortSignal;
  onEvent: (event: TaskEvent) => void;
  logger: Logger;
}

export interface ApiRun {
  summary: CliRunSummary;
  /** The stop signal came before the answer was complete. */
  stopped: boolean;
}

export async function runApi(options: RunApiOptions): Promise<ApiRun> {
  const { spec, logger } = options;
  const sessionId = crypto.randomUUID();
  const model = spec.model ?? options.defaultModel;
  const summary = new CliRunSummary();
  const emit = (event: TaskEvent) => {
    summary.observe(event);
    options.onEvent(event);
  };
  const client = new Anthropic({
    apiKey: options.apiKey,
    // Explicit, so the SDK does not pick anything up from the runner's environment.
    baseURL: options.baseUrl ?? 'https://api.anthropic.com',
  });
  emit({ type: 'system', subtype: 'init', engine: 'api', session_id: sessionId, model });
  logger.info({ model }, 'Messages API request');
  const started = Date.now();
  try {
    const stream = client.messages.stream(
      {
        model,
        max_tokens: options.maxTokens,
        messages: [{ role: 'user', content: options.prompt }],
        ...(spec.systemPrompt !== undefined || spec.appendSystemPrompt !== undefined
          ? { system: [spec.systemPrompt, spec.appendSystemPrompt].filter((s) => s !== undefined).join('\n\n') }
          : {}),
      },
      { signal: options.signal },
    );
    stream.on('streamEvent', (event) => emit({ type: 'stream_event', event, session_id: sessionId }));
    const message = await stream.finalMessage();
    const text = message.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('');
    emit({ type: 'assistant', message, session_id: sessionId });
    emit({
      type: 'result', subtype: 'success', is_error: false, result: text, session_id: sessionId,
      num_turns: 1, duration_ms: Date.now() - started, stop_reason: message.stop_reason, usage: message.usage,
    });
    return { summary, stopped: false };
  } catch (error) {
    if (error instanceof APIUserAbortError || options.signal.aborted) return { summary, stopped: true };
    const status = error instanceof APIError ? error.status : undefined;
    emit({
      type: 'result', subtype: 'error_during_execution', is_error: true, session_id: sessionId, num_turns: 1,
      duration_ms: Date.now() - started, api_error_status: status ?? null,
      result: `API Error: ${status === undefined ? '' : `${status} `}${(error as Error).message}`,
    });
    return { summary, stopped: false };
  }
}
