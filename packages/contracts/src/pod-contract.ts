// The contract between the operator, which builds a task's pod, and the runner,
// which runs in it: the container's name, the files and directories it is given,
// the variables that name them, and the exit codes the runner ends with
// (runner/README.md explains each). operator/src/desired-job.ts writes the pod
// from these; runner/src/config.ts parses the same names.

/** The task pod's one container. */
export const runnerContainerName = 'runner';

/** Where the runner finds what it needs inside the pod. */
export const podPaths = {
  /** The task's spec Secret, mounted as a directory with spec.json. */
  specDir: '/var/run/claude-operator/task',
  specFile: '/var/run/claude-operator/task/spec.json',
  /** The API key Secret, mounted as a directory with api-key. */
  apiKeyDir: '/var/run/claude-operator/anthropic',
  apiKeyFile: '/var/run/claude-operator/anthropic/api-key',
  workspace: '/workspace',
  home: '/home/claude',
  /** An emptyDir: the root filesystem is read-only. */
  tmp: '/tmp',
  /** workspace.git.credentialsSecretRef, as files: `username`/`password` or `ssh-privatekey`. */
  gitCredentials: '/var/run/claude-operator/git-credentials',
  /** Kubernetes' default terminationMessagePath: the runner's summary goes there (termination-summary.ts). */
  terminationLog: '/dev/termination-log',
  /** The container's own cgroup, as the runtime mounts it: the runner watches its count of OOM kills there. */
  cgroup: '/sys/fs/cgroup',
} as const;

/** The variables the operator sets on the runner's container, by what they hold. */
export const podEnv = {
  taskNamespace: 'CLAUDE_TASK_NAMESPACE',
  taskName: 'CLAUDE_TASK_NAME',
  taskUid: 'CLAUDE_TASK_UID',
  /** podPaths.specFile */
  specFile: 'CLAUDE_TASK_SPEC_FILE',
  /** podPaths.apiKeyFile: the key is never an env var in the pod spec. */
  apiKeyFile: 'ANTHROPIC_API_KEY_FILE',
  /** podPaths.workspace */
  workspaceDir: 'WORKSPACE_DIR',
  /** podPaths.home */
  claudeHome: 'CLAUDE_HOME',
  /** The runner's Redis, with its own user when runners have users of their own. */
  redisUrl: 'REDIS_URL',
  /** podPaths.gitCredentials, when the workspace names a credentials Secret. */
  gitCredentialsDir: 'GIT_CREDENTIALS_DIR',
  /** `task` (default) or `session`: what the runner runs. */
  runnerMode: 'CLAUDE_RUNNER_MODE',
  /** Session mode: the ClaudeSession, as taskNamespace/taskName/taskUid are the task. */
  sessionNamespace: 'CLAUDE_SESSION_NAMESPACE',
  sessionName: 'CLAUDE_SESSION_NAME',
  sessionUid: 'CLAUDE_SESSION_UID',
  /** Session mode: the Claude Code session id every pod resumes (the ClaudeSession's uid: the CLI takes a UUID). */
  claudeSessionId: 'CLAUDE_SESSION_ID',
  /** Session mode: exit 0 after this long with no turn in flight and no message waiting. */
  idleTimeoutSeconds: 'CLAUDE_SESSION_IDLE_TIMEOUT_SECONDS',
} as const;

/**
 * A session's pod mounts the session's volume at one path (no subPath: the
 * test bed's local node has none) and the runner keeps the workspace and the
 * CLI's home ($HOME/.claude, with the transcripts) under it, so both outlive
 * the pod. The operator sets WORKSPACE_DIR and CLAUDE_HOME to these.
 */
export const sessionVolume = {
  name: 'session',
  mountPath: '/var/lib/claude-session',
  workspace: '/var/lib/claude-session/workspace',
  home: '/var/lib/claude-session/home',
} as const;

/** What a session's runner does in Redis; the operator's per-runner ACL allows exactly these (and a task's runner's). */
export const sessionRunnerRedisCommands = [
  'xgroup|create', 'xreadgroup', 'xack', 'xpending', 'hexists', 'set', 'subscribe', 'unsubscribe',
] as const;

/** Variables the operator passes on from its own environment as they are (gateways, proxies). */
export const passedThroughEnv = ['ANTHROPIC_BASE_URL', 'HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY'] as const;

/** Variables named CLAUDE_AGENT_ENV_<NAME> reach the CLI as <NAME> (spec.env and spec.envFrom); the runner keeps its own apart. */
export const agentEnvPrefix = 'CLAUDE_AGENT_ENV_';

/** How the runner ends. */
export const runnerExitCodes = {
  succeeded: 0,
  /** The CLI or the model failed: API errors, max turns, the CLI crashed. A retry may help. */
  taskFailed: 1,
  /** Bad configuration or spec (env, spec file, key file, prompt variables). A retry will not help. */
  invalid: 2,
  /** The workspace could not be prepared (git clone/checkout). A retry may help. */
  workspaceFailed: 3,
  /** The run cost more than spec.maxBudgetUSD. A retry would spend it again. */
  budgetExceeded: 4,
  /** The Messages API answered 429 (rate limited) and the CLI gave up retrying. The operator holds the task's
   * API-key Secret until the reset and runs the task again after it (operator/src/policy/rate-limits.ts). */
  rateLimited: 5,
  /** The kernel's OOM killer took a process in the container (most often a command the Bash tool ran): the
   * container went past its memory limit, and the runner stopped the attempt. Another attempt would meet the same limit. */
  oomKilled: 6,
  /** Stopped by SIGTERM (cancel, timeout, eviction): 128 + 15, as a shell would report it. */
  cancelled: 143,
} as const;

/** Exits after which another attempt cannot help, so the Job fails at once: the same input fails the same way, a spent budget stays spent,
 * the memory limit stays what it was.
 * rateLimited too: an attempt at once would meet the same 429, so the Job ends and the operator starts a new one after the reset. */
export const finalExitCodes = [runnerExitCodes.invalid, runnerExitCodes.budgetExceeded, runnerExitCodes.rateLimited, runnerExitCodes.oomKilled];
