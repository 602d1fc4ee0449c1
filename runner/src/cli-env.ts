// The CLI's environment, built from scratch: nothing of the runner's own
// (REDIS_URL, the task's identity, service-account paths) reaches the agent,
// and the agent's variables cannot change how the CLI authenticates or where it
// sends requests.
import type { ClaudeTaskSpec } from '../../crds/src/claude-task.ts';

/** Taken from the runner's environment when set. */
export const inheritedEnvNames = [
  'PATH', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'USER', 'SHELL',
  'SSL_CERT_FILE', 'SSL_CERT_DIR', 'NODE_EXTRA_CA_CERTS',
] as const;

export interface CliEnvInput {
  runnerEnv: NodeJS.ProcessEnv;
  /** CLAUDE_AGENT_ENV_* without the prefix (spec.env and spec.envFrom, resolved by Kubernetes). */
  agentEnv: Record<string, string>;
  apiKey: string;
  anthropicBaseUrl: string | undefined;
  proxy: Record<string, string>;
  claudeHome: string;
  permissionMode: ClaudeTaskSpec['permissionMode'];
}

export interface CliEnv {
  env: Record<string, string>;
  /** Agent variables that were dropped because the runner sets them itself. */
  ignoredAgentEnv: string[];
}

export function buildCliEnv(input: CliEnvInput): CliEnv {
  const enforced: Record<string, string> = {
    HOME: input.claudeHome,
    ANTHROPIC_API_KEY: input.apiKey,
    // Only the API: no telemetry, error reporting or update checks from a pod.
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
  };
  if (input.anthropicBaseUrl !== undefined) enforced.ANTHROPIC_BASE_URL = input.anthropicBaseUrl;
  for (const [name, value] of Object.entries(input.proxy)) {
    enforced[name] = value;
    enforced[name.toLowerCase()] = value; // some HTTP stacks read only the lower-case form
  }
  // The CLI refuses bypassPermissions as root unless told it runs in a sandbox. A
  // task asks for it explicitly, and the pod is the sandbox.
  if (input.permissionMode === 'bypassPermissions') enforced.IS_SANDBOX = '1';

  const env: Record<string, string> = {};
  for (const name of inheritedEnvNames) {
    const value = input.runnerEnv[name];
    if (value !== undefined) env[name] = value;
  }
  const ignoredAgentEnv: string[] = [];
  for (const [name, value] of Object.entries(input.agentEnv)) {
    if (isControlledByRunner(name)) ignoredAgentEnv.push(name);
    else env[name] = value;
  }
  return { env: { ...env, ...enforced }, ignoredAgentEnv };
}

function isControlledByRunner(name: string): boolean {
  const upper = name.toUpperCase();
  return ['HOME', 'ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'ANTHROPIC_BASE_URL', 'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC',
    'DISABLE_AUTOUPDATER', 'HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'IS_SANDBOX'].includes(upper);
}
