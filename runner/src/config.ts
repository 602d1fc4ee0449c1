// The runner's configuration: the environment the operator sets on the pod
// (runner/README.md), parsed once at start. Every problem is reported at once,
// by variable name, as a ConfigError (exit code 2: the pod is set up wrongly).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { defaultIdleTimeoutSeconds } from '../../crds/src/claude-session.ts';
import { agentEnvPrefix, podEnv, podPaths } from '../../packages/contracts/src/pod-contract.ts';
import { configProblems } from '../../packages/platform/src/config.ts';
import { ConfigError } from './errors.ts';
import { hostPath } from './host-path.ts';

/** The model for `engine: api` when the spec names none: what the pinned CLI uses by default. */
export const defaultApiModel = 'claude-opus-5-5';

const repoCli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../node_modules/.bin/claude');

const absolutePath = z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path');
const positiveInt = (fallback: number) => z.coerce.number().int().min(1).default(fallback);
const resourceName = z.string().min(1).max(253).regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a Kubernetes resource name');

// What the operator sets by the pod contract (podEnv), then the runner's own settings.
// Both modes share these; each adds the variables that name what it runs.
const CommonEnvSchema = z.object({
  [podEnv.specFile]: absolutePath,
  [podEnv.apiKeyFile]: absolutePath,
  [podEnv.redisUrl]: z.string().regex(/^rediss?:\/\/\S+$/, 'must be a redis:// or rediss:// URL'),
  [podEnv.workspaceDir]: absolutePath,
  [podEnv.claudeHome]: absolutePath,
  TMPDIR: absolutePath.default(podPaths.tmp),
  [podEnv.gitCredentialsDir]: absolutePath.optional(),
  ANTHROPIC_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  HTTPS_PROXY: z.string().optional(),
  HTTP_PROXY: z.string().optional(),
  NO_PROXY: z.string().optional(),
  CLAUDE_CLI_PATH: z.string().optional(),
  LOCAL_NODE_ROOTFS: absolutePath.optional(),
  RUNNER_PERSIST_WAIT_MS: z.coerce.number().int().min(0).default(5_000),
  RUNNER_FLUSH_TIMEOUT_MS: positiveInt(10_000),
  RUNNER_CLI_STOP_GRACE_MS: positiveInt(10_000),
  RUNNER_TERMINATION_LOG: absolutePath.default(podPaths.terminationLog),
  RUNNER_CGROUP_DIR: absolutePath.default(podPaths.cgroup),
  RUNNER_OOM_POLL_MS: positiveInt(1_000),
  RUNNER_API_MODEL: z.string().min(1).default(defaultApiModel),
  RUNNER_API_MAX_TOKENS: positiveInt(8192),
});

const TaskEnvSchema = CommonEnvSchema.extend({
  [podEnv.taskNamespace]: resourceName,
  [podEnv.taskName]: resourceName,
  [podEnv.taskUid]: z.string().min(1).max(128),
  CLAUDE_TASK_ATTEMPT: z.coerce.number().int().min(1).optional(),
});

const SessionEnvSchema = CommonEnvSchema.extend({
  [podEnv.sessionNamespace]: resourceName,
  [podEnv.sessionName]: resourceName,
  [podEnv.sessionUid]: z.string().min(1).max(128),
  // The CLI's --session-id takes only a UUID.
  [podEnv.claudeSessionId]: z.uuid(),
  // The CRD's minimum is 10 s; the runner takes less so that tests need not wait that long.
  [podEnv.idleTimeoutSeconds]: z.coerce.number().int().min(1).max(7 * 24 * 3600).default(defaultIdleTimeoutSeconds),
});

export const runnerModes = ['task', 'session'] as const;
export type RunnerMode = (typeof runnerModes)[number];
const ModeEnvSchema = z.object({ [podEnv.runnerMode]: z.enum(runnerModes).default('task') });

/** What both modes are given. */
export interface CommonRunnerConfig {
  /** Files and directories below are already resolved with hostPath(). */
  specFile: string;
  apiKeyFile: string;
  workspaceDir: string;
  claudeHome: string;
  /** The pod's /tmp (an emptyDir), or TMPDIR: where the CLI's files go (system prompts, MCP config, settings). */
  tmpDir: string;
  /** The mounted workspace.git.credentialsSecretRef, if any. */
  gitCredentialsDir: string | undefined;
  terminationLogFile: string;
  /** The container's cgroup, where the runner reads the count of OOM kills (oom-watch.ts). */
  cgroupDir: string;
  oomPollMs: number;
  redisUrl: string;
  /** How long the runner waits at the end for the operator to have every event in Postgres. */
  persistWaitMs: number;
  flushTimeoutMs: number;
  /** Between SIGTERM and SIGKILL to the CLI's process group. */
  cliStopGraceMs: number;
  cliPath: string;
  /** `setpriv` when installed: the CLI then dies with the runner even if the runner is SIGKILLed. */
  setprivPath: string | undefined;
  anthropicBaseUrl: string | undefined;
  /** HTTPS_PROXY, HTTP_PROXY, NO_PROXY as given. */
  proxy: Record<string, string>;
  /** CLAUDE_AGENT_ENV_<NAME> variables, without the prefix. */
  agentEnv: Record<string, string>;
  api: { defaultModel: string; maxTokens: number };
}

/** A task's runner (CLAUDE_RUNNER_MODE task, the default). */
export interface RunnerConfig extends CommonRunnerConfig {
  task: { namespace: string; name: string; uid: string; attempt: number | undefined };
}

/** A session's runner (CLAUDE_RUNNER_MODE session). */
export interface SessionRunnerConfig extends CommonRunnerConfig {
  session: { namespace: string; name: string; uid: string; claudeSessionId: string; idleTimeoutMs: number };
}

/** Which mode the environment asks for; ConfigError for an unknown one. */
export function runnerModeOf(env: NodeJS.ProcessEnv = process.env): RunnerMode {
  return parseEnv(ModeEnvSchema, env)[podEnv.runnerMode];
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): RunnerConfig {
  const e = parseEnv(TaskEnvSchema, env);
  return {
    task: { namespace: e.CLAUDE_TASK_NAMESPACE, name: e.CLAUDE_TASK_NAME, uid: e.CLAUDE_TASK_UID, attempt: e.CLAUDE_TASK_ATTEMPT },
    ...commonConfig(e, env),
  };
}

export function loadSessionConfig(env: NodeJS.ProcessEnv = process.env): SessionRunnerConfig {
  const e = parseEnv(SessionEnvSchema, env);
  return {
    session: {
      namespace: e.CLAUDE_SESSION_NAMESPACE, name: e.CLAUDE_SESSION_NAME, uid: e.CLAUDE_SESSION_UID,
      claudeSessionId: e.CLAUDE_SESSION_ID, idleTimeoutMs: e.CLAUDE_SESSION_IDLE_TIMEOUT_SECONDS * 1000,
    },
    ...commonConfig(e, env),
  };
}

function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.infer<S> {
  // Kubernetes makes it easy to set a variable to ""; that means "not set" here.
  const given = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = schema.safeParse(given);
  if (!parsed.success) {
    throw new ConfigError(`invalid runner environment: ${configProblems(parsed.error).join('; ')}`);
  }
  return parsed.data;
}

function commonConfig(e: z.infer<typeof CommonEnvSchema>, env: NodeJS.ProcessEnv): CommonRunnerConfig {
  const rootfs = e.LOCAL_NODE_ROOTFS;
  const proxy: Record<string, string> = {};
  for (const name of ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY'] as const) if (e[name] !== undefined) proxy[name] = e[name];
  return {
    specFile: hostPath(e.CLAUDE_TASK_SPEC_FILE, rootfs),
    apiKeyFile: hostPath(e.ANTHROPIC_API_KEY_FILE, rootfs),
    workspaceDir: hostPath(e.WORKSPACE_DIR, rootfs),
    claudeHome: hostPath(e.CLAUDE_HOME, rootfs),
    tmpDir: hostPath(e.TMPDIR, rootfs),
    gitCredentialsDir: e.GIT_CREDENTIALS_DIR === undefined ? undefined : hostPath(e.GIT_CREDENTIALS_DIR, rootfs),
    terminationLogFile: hostPath(e.RUNNER_TERMINATION_LOG, rootfs),
    // On the local node (a host process) this is under the "pod's" rootfs, where there is no cgroup: no watch.
    cgroupDir: hostPath(e.RUNNER_CGROUP_DIR, rootfs),
    oomPollMs: e.RUNNER_OOM_POLL_MS,
    redisUrl: e.REDIS_URL,
    persistWaitMs: e.RUNNER_PERSIST_WAIT_MS,
    flushTimeoutMs: e.RUNNER_FLUSH_TIMEOUT_MS,
    cliStopGraceMs: e.RUNNER_CLI_STOP_GRACE_MS,
    cliPath: e.CLAUDE_CLI_PATH ?? findExecutable('claude', env.PATH) ?? repoCli,
    setprivPath: findExecutable('setpriv', env.PATH),
    anthropicBaseUrl: e.ANTHROPIC_BASE_URL,
    proxy,
    agentEnv: agentEnvOf(env),
    api: { defaultModel: e.RUNNER_API_MODEL, maxTokens: e.RUNNER_API_MAX_TOKENS },
  };
}

export function agentEnvOf(env: NodeJS.ProcessEnv): Record<string, string> {
  const agentEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !name.startsWith(agentEnvPrefix) || name.length === agentEnvPrefix.length) continue;
    agentEnv[name.slice(agentEnvPrefix.length)] = value;
  }
  return agentEnv;
}

/** The first executable `name` on PATH. */
export function findExecutable(name: string, searchPath: string | undefined): string | undefined {
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
