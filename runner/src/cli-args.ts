// The `claude` command line for a task: one pure function, table-tested.
//
// The prompt goes last, after `--`: options such as --allowedTools take several
// values and would swallow a prompt that followed them, and a prompt starting
// with "-" would be read as an option. A prompt too long for one argv string
// (Linux: 128 KiB) goes to stdin instead, which `claude -p` reads when it has no
// prompt argument.
//
// System prompts, the MCP configuration and the settings always go in files (the
// CLI's --system-prompt-file, --append-system-prompt-file, --mcp-config <file>,
// --settings <file>): the spec allows more than one argv string holds, and one way
// for every size keeps the long case from being the untested one.
//
// Unless the spec allows it, the workspace does not configure the CLI: a cloned
// repository's .claude/settings.json, .mcp.json, CLAUDE.md, skills and agents are
// ignored (--setting-sources user, where user is the runner's own CLAUDE_HOME, and
// --strict-mcp-config), so only the spec decides what the agent may do.
import path from 'node:path';
import type { AgentSpec } from '../../crds/src/agent-spec.ts';
import type { ClaudeTaskSpec } from '../../crds/src/claude-task.ts';
import { ConfigError } from './errors.ts';

/** Linux MAX_ARG_STRLEN is 131072 bytes including the terminating NUL; keep a margin. */
export const maxArgBytes = 128 * 1024 - 1024;

/** The files claudeArgs names, in the directory it is given. */
export const cliFileNames = {
  systemPrompt: 'system-prompt.txt',
  appendSystemPrompt: 'append-system-prompt.txt',
  mcpConfig: 'mcp-config.json',
  settings: 'settings.json',
} as const;

export interface CliFile {
  path: string;
  content: string;
}

export interface ClaudeInvocation {
  args: string[];
  /** The prompt when it is too long for argv; write it to stdin and close it. */
  stdin: string | undefined;
  /** To be written before the CLI starts: the args name them. */
  files: CliFile[];
}

/** The agent fields the command line is made of: a ClaudeTask's and a ClaudeSession's spec alike. */
export type CliSpec = Omit<AgentSpec, 'workspace'>;

/**
 * A session's turn: the first turn of a session starts the CLI's session with this
 * id (--session-id, the CLI takes a UUID); every later turn continues it (--resume),
 * which needs the transcript of the earlier turns in $HOME/.claude/projects.
 */
export interface CliSession {
  sessionId: string;
  resume: boolean;
}

/** `filesDir`: a private directory for the files the args name. A task's spec or a session's. */
export function claudeArgs(spec: CliSpec | ClaudeTaskSpec, prompt: string, filesDir: string, session?: CliSession): ClaudeInvocation {
  const files: CliFile[] = [];
  const file = (name: string, content: string) => {
    const filePath = path.join(filesDir, name);
    files.push({ path: filePath, content });
    return filePath;
  };
  // Partial messages go to the task's Pub/Sub channel, not its stream (run-task.ts).
  const args = ['-p', '--output-format', 'stream-json', '--verbose', '--include-partial-messages'];
  if (spec.model !== undefined) args.push('--model', spec.model);
  if (spec.fallbackModel !== undefined) args.push('--fallback-model', spec.fallbackModel);
  if (spec.effort !== undefined) args.push('--effort', spec.effort);
  if (spec.maxTurns !== undefined) args.push('--max-turns', String(spec.maxTurns));
  if (spec.maxBudgetUSD !== undefined) args.push('--max-budget-usd', spec.maxBudgetUSD);
  if (spec.permissionMode !== undefined) args.push('--permission-mode', spec.permissionMode);
  if (spec.allowedTools?.length) args.push('--allowedTools', ...spec.allowedTools);
  if (spec.disallowedTools?.length) args.push('--disallowedTools', ...spec.disallowedTools);
  if (spec.addDirs?.length) args.push('--add-dir', ...spec.addDirs);
  if (spec.systemPrompt !== undefined) args.push('--system-prompt-file', file(cliFileNames.systemPrompt, spec.systemPrompt));
  if (spec.appendSystemPrompt !== undefined) {
    args.push('--append-system-prompt-file', file(cliFileNames.appendSystemPrompt, spec.appendSystemPrompt));
  }
  if (spec.allowProjectSettings === true) args.push('--setting-sources', 'user,project,local');
  else args.push('--setting-sources', 'user', '--strict-mcp-config');
  if (spec.mcpServers !== undefined && Object.keys(spec.mcpServers).length > 0) {
    args.push('--mcp-config', file(cliFileNames.mcpConfig, JSON.stringify({ mcpServers: spec.mcpServers })));
  }
  if (spec.settings !== undefined) args.push('--settings', file(cliFileNames.settings, JSON.stringify(spec.settings)));
  // The CLI takes the schema only inline; the spec keeps it well below one argument.
  if (spec.jsonSchema !== undefined) args.push('--json-schema', fitsArgv(JSON.stringify(spec.jsonSchema), 'spec.jsonSchema'));
  if (session !== undefined) args.push(session.resume ? '--resume' : '--session-id', session.sessionId);
  if (Buffer.byteLength(prompt, 'utf8') > maxArgBytes) return { args, stdin: prompt, files };
  args.push('--', prompt);
  return { args, stdin: undefined, files };
}

function fitsArgv(value: string, field: string): string {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > maxArgBytes) {
    throw new ConfigError(`${field} is ${bytes} bytes in UTF-8; the CLI takes at most ${maxArgBytes} bytes as one argument`);
  }
  return value;
}
