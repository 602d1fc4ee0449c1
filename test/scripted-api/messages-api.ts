// The parts of the Anthropic Messages API wire format that the scripted server reads
// and writes. Deliberately loose on input: the CLI sends many fields (system, tools,
// thinking, context_management, ...) that the scripts do not care about.

export interface TextBlock {
  type: 'text';
  text: string;
}

export interface ToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export interface ToolResultBlock {
  type: 'tool_result';
  tool_use_id: string;
  content?: string | Array<{ type: string; text?: string }>;
  is_error?: boolean;
}

/** Any other block type (image, thinking, ...) passes through untouched. */
export interface OtherBlock {
  type: string;
  [key: string]: unknown;
}

export type ContentBlock = TextBlock | ToolUseBlock | ToolResultBlock | OtherBlock;

export interface InputMessage {
  /** The CLI also sends `system` messages inside `messages`, not only user and assistant. */
  role: string;
  content: string | ContentBlock[];
}

export interface MessagesRequest {
  model?: string;
  max_tokens?: number;
  stream?: boolean;
  messages?: InputMessage[];
  system?: string | TextBlock[];
  tools?: Array<{ name: string }>;
  [key: string]: unknown;
}

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

export type StopReason = 'end_turn' | 'tool_use' | 'max_tokens';

export interface ResponseMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: Array<TextBlock | ToolUseBlock>;
  stop_reason: StopReason;
  stop_sequence: null;
  usage: Usage;
}

/** The body of every non-2xx answer, as the real API sends it. */
export interface ErrorBody {
  type: 'error';
  error: { type: string; message: string };
}

export function errorBody(type: string, message: string): ErrorBody {
  return { type: 'error', error: { type, message } };
}
