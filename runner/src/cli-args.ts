// The `claude` command line for a task: one pure function, table-tested.
//
// The prompt goes last, after `--`: options such as --allowedTools take several
// values and would swallow a prompt that followed them, and a prompt starting
// with "-" would be read as an option. A prompt too long for one argv string
// (Linux: 128 KiB) goes to stdin instead, which `claude -p` reads when it has no
// prompt argument.
import type { ClaudeTaskSpec } from '../../crds/src/claude-task.ts';
import { ConfigError } from './errors.ts';

/** Linux MAX_ARG_STRLEN is 131072 bytes including the terminating NUL; keep a margin. */
export const maxArgBytes = 128 * 1024 - 1024;

export interface ClaudeInvocation {
  args: string[];
  /** The prompt when it is too long for argv; write it to stdin and close it. */
  stdin: string | undefined;
}

export function claudeArgs(spec: ClaudeTaskSpec, prompt: string): ClaudeInvocation {
  const args = ['-p', '--output-format', 'stream-json', '--verbose'];
  if (spec.model !== undefined) args.push('--model', spec.model);
  if (spec.maxTurns !== undefined) args.push('--max-turns', String(spec.maxTurns));
  if (spec.permissionMode !== undefined) args.push('--permission-mode', spec.permissionMode);
  if (spec.allowedTools?.length) args.push('--allowedTools', ...spec.allowedTools);
  if (spec.disallowedTools?.length) args.push('--disallowedTools', ...spec.disallowedTools);
  if (spec.systemPrompt !== undefined) args.push('--system-prompt', fitsArgv(spec.systemPrompt, 'spec.systemPrompt'));
  if (spec.appendSystemPrompt !== undefined) {
    args.push('--append-system-prompt', fitsArgv(spec.appendSystemPrompt, 'spec.appendSystemPrompt'));
  }
  if (spec.mcpServers !== undefined && Object.keys(spec.mcpServers).length > 0) {
    args.push('--mcp-config', fitsArgv(JSON.stringify({ mcpServers: spec.mcpServers }), 'spec.mcpServers'));
  }
  if (Buffer.byteLength(prompt, 'utf8') > maxArgBytes) return { args, stdin: prompt };
  args.push('--', prompt);
  return { args, stdin: undefined };
}

function fitsArgv(value: string, field: string): string {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > maxArgBytes) {
    throw new ConfigError(`${field} is ${bytes} bytes in UTF-8; the CLI takes at most ${maxArgBytes} bytes as one argument`);
  }
  return value;
}
