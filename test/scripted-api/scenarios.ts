// What the scripted API answers, as a pure function of the request (plus, for the
// scenarios that fail a few times first, how many attempts that prompt has had).
// The server (server.ts) turns a plan into HTTP; the unit tests check plans directly.
import path from 'node:path';
import {
  hasAssistantTurn,
  isSideRequest,
  latestPromptText,
  parseDirective,
  toolResultsSincePrompt,
  toolResultText,
  workingDirectory,
} from './conversation.ts';
import { errorBody, type ErrorBody, type MessagesRequest, type StopReason, type ToolResultBlock, type Usage } from './messages-api.ts';

export type PlannedBlock =
  | { type: 'text'; /** Sent as one text_delta each. */ chunks: string[] }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

export interface MessagePlan {
  kind: 'message';
  blocks: PlannedBlock[];
  stopReason: StopReason;
  usage: Usage;
  /** Pause before each delta when streaming (the `slow` scenario). */
  delayMs: number;
}

export interface ErrorPlan {
  kind: 'error';
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
}

export type Plan = MessagePlan | ErrorPlan;

export interface PlanContext {
  /** Earlier main requests for the same prompt of the same conversation (see attemptKey). */
  priorAttempts: number;
}

export const scenarioNames = [
  'answer',
  'write-file',
  'bash',
  'edit',
  'slow',
  'rate-limited',
  'server-error',
  'overloaded',
  'long-output',
  'loop-tools',
  'many-tools',
  'structured-output',
  'tool',
] as const;
export type ScenarioName = (typeof scenarioNames)[number];

export const defaultAnswer = 'This is a scripted answer.';
export const sideAnswer = 'Scripted side answer.';

/** Where a plan comes from, for the request log. */
export function scenarioOf(request: MessagesRequest): string {
  if (isSideRequest(request)) return 'side';
  const parsed = parseDirective(latestPromptText(request));
  if (!parsed.ok) return 'invalid';
  return parsed.directive?.name ?? 'answer';
}

class ScenarioArgsError extends Error {}

export function planResponse(request: MessagesRequest, context: PlanContext): Plan {
  if (isSideRequest(request)) return textPlan(request, [sideAnswer]);
  const parsed = parseDirective(latestPromptText(request));
  if (!parsed.ok) return invalidRequest(parsed.error);
  const name = parsed.directive?.name ?? 'answer';
  const args = parsed.directive?.args ?? {};
  try {
    const typed = new Args(name, args);
    return withInputTokens(planScenario(name, typed, request, context), typed);
  } catch (error) {
    if (error instanceof ScenarioArgsError) return invalidRequest(error.message);
    throw error;
  }
}

function planScenario(name: string, args: Args, request: MessagesRequest, context: PlanContext): Plan {
  const results = toolResultsSincePrompt(request);
  const step = results.length;
  const last = results.at(-1);
  switch (name) {
    case 'answer':
      // Word by word, as the real API streams: --include-partial-messages then shows several deltas.
      return textPlan(request, words(args.string('text', defaultAnswer)));

    case 'write-file': {
      const filePath = args.string('path');
      const content = args.string('content', '');
      if (step === 0) return toolPlan(request, 'Write', { file_path: absolute(request, filePath), content });
      return textPlan(request, [finalText(last, `Wrote ${filePath}.`)]);
    }

    case 'bash': {
      const command = args.string('command');
      if (step === 0) return toolPlan(request, 'Bash', { command, description: 'Run the scripted command' });
      return textPlan(request, [finalText(last, `Ran \`${command}\`. Output:\n${last ? toolResultText(last) : ''}`)]);
    }

    case 'write-then-bash': {
      // Two tools in one run (the report tests want a Write and a Bash call).
      const filePath = args.string('path');
      const command = args.string('command');
      if (step === 0) return toolPlan(request, 'Write', { file_path: absolute(request, filePath), content: args.string('content', '') });
      if (step === 1 && last?.is_error !== true) return toolPlan(request, 'Bash', { command, description: 'Run the scripted command' });
      return textPlan(request, [finalText(last, `${args.string('answer', `Wrote ${filePath} and ran \`${command}\`.`)} Output:\n${last ? toolResultText(last) : ''}`)]);
    }

    case 'edit': {
      // The CLI's Edit tool refuses a file that was not Read in the same session.
      const filePath = absolute(request, args.string('path'));
      const oldString = args.string('old');
      const newString = args.string('new');
      if (step === 0) return toolPlan(request, 'Read', { file_path: filePath });
      if (step === 1 && last?.is_error !== true) {
        return toolPlan(request, 'Edit', { file_path: filePath, old_string: oldString, new_string: newString });
      }
      return textPlan(request, [finalText(last, `Edited ${args.string('path')}.`)]);
    }

    case 'slow': {
      const tokens = args.integer('tokens', 20);
      const delayMs = args.integer('delayMs', 100);
      const chunks = Array.from({ length: tokens }, (_, i) => `token${i + 1} `);
      return { ...textPlan(request, chunks), delayMs };
    }

    case 'long-output': {
      const chars = args.integer('chars', 20_000);
      return textPlan(request, chunked(longText(chars), 200));
    }

    case 'loop-tools':
      return toolPlan(request, 'Bash', { command: 'true', description: 'Do nothing, successfully' });

    case 'many-tools': {
      // Many events in one turn: `calls` Bash calls in each of `rounds` answers (the CLI emits an
      // assistant event per tool_use block and a user event per result), then a text answer.
      const calls = args.integer('calls', 10);
      const rounds = args.integer('rounds', 1);
      const command = args.string('command', 'true');
      if (calls > 0 && step < calls * rounds) {
        const inputs = Array.from({ length: calls }, () => ({ command, description: 'Run the scripted command' }));
        return toolsPlan(request, 'Bash', inputs);
      }
      return textPlan(request, [finalText(last, `Ran ${step} tools.`)]);
    }

    case 'rate-limited': {
      const times = args.integer('times', 1);
      if (context.priorAttempts < times) {
        const retryAfter = args.integer('retryAfter', 1);
        return errorPlan(429, 'rate_limit_error', 'Number of requests has exceeded your rate limit (scripted).', {
          'retry-after': String(retryAfter),
        });
      }
      return textPlan(request, [args.string('text', defaultAnswer)]);
    }

    case 'server-error': {
      const times = args.integer('times', Number.POSITIVE_INFINITY);
      if (context.priorAttempts < times) return errorPlan(500, 'api_error', 'Internal server error (scripted).');
      return textPlan(request, [args.string('text', defaultAnswer)]);
    }

    case 'overloaded': {
      const times = args.integer('times', Number.POSITIVE_INFINITY);
      // With `model`, only that model is overloaded (the CLI's --fallback-model then gets an answer).
      const onlyModel = args.optionalString('model');
      const overloaded = onlyModel === undefined || request.model === onlyModel;
      if (overloaded && context.priorAttempts < times) return errorPlan(529, 'overloaded_error', 'Overloaded (scripted).');
      return textPlan(request, [args.string('text', defaultAnswer)]);
    }

    case 'structured-output': {
      // --json-schema gives the CLI a StructuredOutput tool whose input is the answer.
      if (step === 0) return toolPlan(request, 'StructuredOutput', args.object('output'));
      return textPlan(request, [finalText(last, 'Returned the structured output.')]);
    }

    case 'tool': {
      // Any tool by name, e.g. an MCP server's mcp__<server>__<tool>; then what it returned.
      const tool = args.string('name');
      if (step === 0) return toolPlan(request, tool, args.optionalObject('input') ?? {});
      return textPlan(request, [finalText(last, `${tool} returned:\n${last ? toolResultText(last) : ''}`)]);
    }

    default:
      return invalidRequest(`unknown scenario ${name}; known: ${scenarioNames.join(', ')}`);
  }
}

/** The last answer of a tool scenario reports a failed tool instead of pretending. */
function finalText(last: ToolResultBlock | undefined, success: string): string {
  if (last?.is_error === true) return `The tool failed: ${toolResultText(last)}`;
  return success;
}

function absolute(request: MessagesRequest, filePath: string): string {
  if (path.isAbsolute(filePath)) return filePath;
  const cwd = workingDirectory(request);
  return cwd === undefined ? filePath : path.join(cwd, filePath);
}

/** Deterministic text of exactly `chars` characters, in numbered lines. */
function longText(chars: number): string {
  let text = '';
  for (let line = 1; text.length < chars; line++) text += `Line ${line} of the scripted long output.\n`;
  return text.slice(0, chars);
}

/** Each word with the space after it; at least one chunk. */
function words(text: string): string[] {
  const parts = text.match(/\S+\s*|\s+/g);
  return parts ?? [''];
}

/** Any scenario: `inputTokens` replaces input_tokens of every answer, so that a run can cost
 * enough to pass a small --max-budget-usd. */
function withInputTokens(plan: Plan, args: Args): Plan {
  const inputTokens = args.optionalInteger('inputTokens');
  if (plan.kind !== 'message' || inputTokens === undefined) return plan;
  return { ...plan, usage: { ...plan.usage, input_tokens: inputTokens } };
}

function chunked(text: string, size: number): string[] {
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
  return chunks.length > 0 ? chunks : [''];
}

function textPlan(request: MessagesRequest, chunks: string[]): MessagePlan {
  return {
    kind: 'message',
    blocks: [{ type: 'text', chunks }],
    stopReason: 'end_turn',
    usage: usageFor(request, chunks.join('').length),
    delayMs: 0,
  };
}

function toolPlan(request: MessagesRequest, name: string, input: Record<string, unknown>): MessagePlan {
  return toolsPlan(request, name, [input]);
}

/** One answer that calls `name` once per input, in parallel as the API allows. */
function toolsPlan(request: MessagesRequest, name: string, inputs: Array<Record<string, unknown>>): MessagePlan {
  // Unique within the conversation because `messages` only grows. Not `<id>_<n>` for the calls of one answer:
  // with those the CLI 2.1.328 sent back "[Tool result missing due to internal error]" for all but the first.
  const base = `toolu_scripted_${(request.messages ?? []).length}`;
  return {
    kind: 'message',
    blocks: inputs.map((input, i) => ({ type: 'tool_use', id: inputs.length === 1 ? base : `${base}c${i + 1}`, name, input })),
    stopReason: 'tool_use',
    usage: usageFor(request, inputs.reduce((chars, input) => chars + JSON.stringify(input).length, 0)),
    delayMs: 0,
  };
}

/** Plausible, deterministic token counts, so tests can predict totals:
 * - input_tokens: 100 + 20 per message in the request
 * - cache_creation_input_tokens: 1000 on the first turn (no assistant message yet), then 200
 * - cache_read_input_tokens: 0 on the first turn, then 1000
 * - output_tokens: 10 + ceil(output characters / 4), output being the text or the tool input JSON */
export function usageFor(request: MessagesRequest, outputChars: number): Usage {
  const later = hasAssistantTurn(request);
  return {
    input_tokens: 100 + 20 * (request.messages ?? []).length,
    output_tokens: 10 + Math.ceil(outputChars / 4),
    cache_creation_input_tokens: later ? 200 : 1000,
    cache_read_input_tokens: later ? 1000 : 0,
  };
}

/** A 429 for a key whose request limit is spent until `resetAt` (epoch ms), with the headers
 * the real API sends: `retry-after` in whole seconds (rounded up, at least 1) and the reset
 * as RFC 3339 in `anthropic-ratelimit-requests-reset`. */
export function keyRateLimitPlan(resetAt: number, now: number): ErrorPlan {
  const retryAfter = Math.max(1, Math.ceil((resetAt - now) / 1000));
  return errorPlan(429, 'rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit (scripted, per key).', {
    'retry-after': String(retryAfter),
    'anthropic-ratelimit-requests-limit': '50',
    'anthropic-ratelimit-requests-remaining': '0',
    'anthropic-ratelimit-requests-reset': new Date(resetAt).toISOString(),
  });
}

export function errorPlan(status: number, type: string, message: string, headers: Record<string, string> = {}): ErrorPlan {
  return { kind: 'error', status, body: errorBody(type, message), headers };
}

function invalidRequest(message: string): ErrorPlan {
  return errorPlan(400, 'invalid_request_error', message);
}

/** Typed access to a directive's JSON args; a wrong type is the test author's
 * mistake and becomes a 400 that names it. */
class Args {
  readonly #scenario: string;
  readonly #values: Record<string, unknown>;

  constructor(scenario: string, values: Record<string, unknown>) {
    this.#scenario = scenario;
    this.#values = values;
  }

  string(key: string, fallback?: string): string {
    const value = this.#values[key];
    if (value === undefined && fallback !== undefined) return fallback;
    if (typeof value !== 'string') throw new ScenarioArgsError(`scenario ${this.#scenario}: arg ${key} must be a string`);
    return value;
  }

  optionalString(key: string): string | undefined {
    return this.#values[key] === undefined ? undefined : this.string(key);
  }

  object(key: string): Record<string, unknown> {
    const value = this.#values[key];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ScenarioArgsError(`scenario ${this.#scenario}: arg ${key} must be a JSON object`);
    }
    return value as Record<string, unknown>;
  }

  optionalObject(key: string): Record<string, unknown> | undefined {
    return this.#values[key] === undefined ? undefined : this.object(key);
  }

  optionalInteger(key: string): number | undefined {
    return this.#values[key] === undefined ? undefined : this.integer(key, 0);
  }

  integer(key: string, fallback: number): number {
    const value = this.#values[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw new ScenarioArgsError(`scenario ${this.#scenario}: arg ${key} must be a non-negative integer`);
    }
    return value;
  }
}
