// Reads the CLI's `--output-format stream-json` stdout: one JSON object per line.
// Lenient on purpose: the CLI adds event types and fields between versions, so
// anything that parses as an object with a `type` passes through unchanged, and a
// line that does not becomes a `runner.malformed_line` event instead of an error.
// CliRunSummary picks out what the task status needs: session id, model, result, usage.
import type { RunnerMalformedLineEvent, TaskEvent, TaskUsage } from '../../packages/contracts/src/task-events.ts';

/** How much of a malformed line is kept in its event. */
export const malformedLineKeep = 4096;

export class StreamJsonReader {
  private pending = '';

  /** Events for the complete lines in `chunk` (plus what was pending); keeps a partial last line. */
  feed(chunk: string): TaskEvent[] {
    this.pending += chunk;
    const lines = this.pending.split('\n');
    this.pending = lines.pop() ?? '';
    return lines.flatMap(parseLine);
  }

  /** Events for a last line without a newline. */
  end(): TaskEvent[] {
    const rest = this.pending;
    this.pending = '';
    return parseLine(rest);
  }
}

export function parseLine(rawLine: string): TaskEvent[] {
  const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
  if (line.trim() === '') return [];
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return [malformed(line, `not JSON: ${(error as Error).message}`)];
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [malformed(line, 'not a JSON object')];
  if (typeof (value as { type?: unknown }).type !== 'string') return [malformed(line, 'no "type" string')];
  return [value as TaskEvent];
}

function malformed(line: string, error: string): RunnerMalformedLineEvent {
  const truncated = line.length > malformedLineKeep;
  return { type: 'runner.malformed_line', error, line: truncated ? line.slice(0, malformedLineKeep) : line, truncated };
}

export interface CliResult {
  /** `success`, `error_max_turns`, `error_during_execution`, ... as the CLI says. */
  subtype: string;
  /** The CLI sets is_error also on `success` when an API error ended the run. */
  isError: boolean;
  /** The final answer, or for an API error its message. */
  text: string | undefined;
  /** With --json-schema: the validated object (the CLI's `structured_output`), else undefined. */
  structuredOutput: unknown;
  usage: TaskUsage;
  /** The HTTP status of the API error that ended the run (the CLI's `api_error_status`, e.g. 429), else undefined. */
  apiErrorStatus?: number | undefined;
}

/** Follows the events of one CLI run and keeps what the terminal event needs. */
export class CliRunSummary {
  sessionId: string | undefined;
  /** The model the init event names. */
  model: string | undefined;
  result: CliResult | undefined;
  /** When the CLI's last retry after a 429 was due (see rateLimitRetryDue); the API's reset as far as the run knows. */
  rateLimitRetryDue: Date | undefined;
  private readonly now: () => Date;

  constructor(now: () => Date = () => new Date()) {
    this.now = now;
  }

  observe(event: TaskEvent): void {
    if (typeof event.session_id === 'string' && event.session_id !== '') this.sessionId = event.session_id;
    const due = rateLimitRetryDue(event, this.now());
    if (due) this.rateLimitRetryDue = due;
    if (event.type === 'system' && event.subtype === 'init' && typeof event.model === 'string' && event.model !== '') this.model = event.model;
    if (event.type === 'result') this.result = resultOf(event);
  }
}

function resultOf(event: TaskEvent): CliResult {
  return {
    subtype: typeof event.subtype === 'string' ? event.subtype : 'unknown',
    isError: event.is_error === true || (typeof event.subtype === 'string' && event.subtype !== 'success'),
    text: typeof event.result === 'string' ? event.result : undefined,
    structuredOutput: event.structured_output ?? undefined,
    usage: usageOf(event),
    apiErrorStatus: Number.isSafeInteger(event.api_error_status) ? event.api_error_status as number : undefined,
  };
}

/**
 * The CLI (2.1.x) announces each retry of a failed request as
 * `{"type":"system","subtype":"api_retry","attempt","max_retries","retry_delay_ms","error_status":429,"error":"rate_limit"}`
 * and then waits retry_delay_ms (for a 429: the API's retry-after plus some jitter; it does not retry at all
 * when retry-after is above 60 s). For a 429: when that retry is due, seen at `now`; else undefined.
 */
export function rateLimitRetryDue(event: TaskEvent, now: Date): Date | undefined {
  if (event.type !== 'system' || event.subtype !== 'api_retry' || event.error_status !== 429) return undefined;
  const delayMs = event.retry_delay_ms;
  if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0) return undefined;
  return new Date(now.getTime() + delayMs);
}

const count = (value: unknown) => (Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : undefined);
const objectOf = (value: unknown) => (typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined);

/** The CLI's token counts, `total_cost_usd` and `num_turns` in the shape of the task status. The tokens come
 * from `modelUsage` (per model, summed) when the event has it: on `error_max_budget_usd` the CLI's
 * `usage` is all zeros while `modelUsage` holds what the run used. Else from `usage` (the api engine). */
export function usageOf(event: TaskEvent): TaskUsage {
  const usage: TaskUsage = {};
  const set = <K extends keyof TaskUsage>(key: K, value: TaskUsage[K] | undefined) => {
    if (value !== undefined) usage[key] = value;
  };
  const perModel = Object.values(objectOf(event.modelUsage) ?? {})
    .map(objectOf).filter((entry): entry is Record<string, unknown> => entry !== undefined);
  if (perModel.length > 0) {
    const sum = (key: string) => perModel.reduce<number | undefined>((total, entry) => {
      const value = count(entry[key]);
      return value === undefined ? total : (total ?? 0) + value;
    }, undefined);
    set('inputTokens', sum('inputTokens'));
    set('outputTokens', sum('outputTokens'));
    set('cacheReadInputTokens', sum('cacheReadInputTokens'));
    set('cacheCreationInputTokens', sum('cacheCreationInputTokens'));
  } else {
    const raw = objectOf(event.usage) ?? {};
    set('inputTokens', count(raw.input_tokens));
    set('outputTokens', count(raw.output_tokens));
    set('cacheReadInputTokens', count(raw.cache_read_input_tokens));
    set('cacheCreationInputTokens', count(raw.cache_creation_input_tokens));
  }
  set('costUSD', formatUsd(event.total_cost_usd));
  set('turns', count(event.num_turns));
  return usage;
}

/** A decimal string without exponent (String(1e-7) would be "1e-7"), at most 6 places. */
export function formatUsd(value: unknown): string | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return undefined;
  const fixed = value.toFixed(6).replace(/0+$/, '');
  return fixed.endsWith('.') ? fixed.slice(0, -1) : fixed;
}
