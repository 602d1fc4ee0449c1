import { describe, expect, it } from '@jest/globals';
import { agentEnvOf, loadConfig, loadSessionConfig, runnerModeOf } from './config.ts';
import { ConfigError } from './errors.ts';

const valid = {
  CLAUDE_TASK_SPEC_FILE: '/etc/claude-task/spec.json',
  ANTHROPIC_API_KEY_FILE: '/etc/anthropic/api-key',
  CLAUDE_TASK_NAMESPACE: 'team-a',
  CLAUDE_TASK_NAME: 'fix-bug',
  CLAUDE_TASK_UID: '0b1c',
  REDIS_URL: 'redis://redis:6379',
  WORKSPACE_DIR: '/workspace',
  CLAUDE_HOME: '/claude-home',
  PATH: '/nonexistent',
};

describe('loadConfig', () => {
  it('parses a minimal environment with defaults', () => {
    const config = loadConfig(valid);
    expect(config).toMatchObject({
      task: { namespace: 'team-a', name: 'fix-bug', uid: '0b1c', attempt: undefined },
      specFile: '/etc/claude-task/spec.json',
      workspaceDir: '/workspace',
      tmpDir: '/tmp',
      terminationLogFile: '/dev/termination-log',
      persistWaitMs: 5_000,
      flushTimeoutMs: 10_000,
      anthropicBaseUrl: undefined,
      gitCredentialsDir: undefined,
      proxy: {},
      agentEnv: {},
    });
    expect(config.cliPath).toMatch(/node_modules\/\.bin\/claude$/);
  });

  it('resolves mount paths under LOCAL_NODE_ROOTFS', () => {
    const config = loadConfig({ ...valid, LOCAL_NODE_ROOTFS: '/var/pods/p1/rootfs', GIT_CREDENTIALS_DIR: '/var/run/claude-operator/git-credentials' });
    expect(config).toMatchObject({
      specFile: '/var/pods/p1/rootfs/etc/claude-task/spec.json',
      apiKeyFile: '/var/pods/p1/rootfs/etc/anthropic/api-key',
      workspaceDir: '/var/pods/p1/rootfs/workspace',
      claudeHome: '/var/pods/p1/rootfs/claude-home',
      tmpDir: '/var/pods/p1/rootfs/tmp',
      gitCredentialsDir: '/var/pods/p1/rootfs/var/run/claude-operator/git-credentials',
      terminationLogFile: '/var/pods/p1/rootfs/dev/termination-log',
    });
  });

  it('takes optional settings', () => {
    const config = loadConfig({
      ...valid, CLAUDE_TASK_ATTEMPT: '2', ANTHROPIC_BASE_URL: 'http://127.0.0.1:9', HTTPS_PROXY: 'http://proxy:3128',
      NO_PROXY: 'localhost', RUNNER_PERSIST_WAIT_MS: '500', CLAUDE_CLI_PATH: '/opt/claude',
      CLAUDE_AGENT_ENV_CLAUDE_CODE_MAX_RETRIES: '0',
    });
    expect(config).toMatchObject({
      task: { attempt: 2 }, anthropicBaseUrl: 'http://127.0.0.1:9', proxy: { HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: 'localhost' },
      persistWaitMs: 500, cliPath: '/opt/claude', agentEnv: { CLAUDE_CODE_MAX_RETRIES: '0' },
    });
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ ...valid, CLAUDE_TASK_ATTEMPT: '', ANTHROPIC_BASE_URL: '' }).task.attempt).toBeUndefined();
  });

  it('reports every bad variable by name', () => {
    const bad = { ...valid, REDIS_URL: 'http://x', WORKSPACE_DIR: 'relative', CLAUDE_TASK_ATTEMPT: 'two' } as Record<string, string>;
    delete bad.CLAUDE_TASK_NAME;
    let error: unknown;
    try {
      loadConfig(bad);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of ['REDIS_URL', 'WORKSPACE_DIR', 'CLAUDE_TASK_ATTEMPT', 'CLAUDE_TASK_NAME']) expect(message).toContain(name);
  });
});

describe('runnerModeOf', () => {
  it.each([
    [{}, 'task'], [{ CLAUDE_RUNNER_MODE: '' }, 'task'], [{ CLAUDE_RUNNER_MODE: 'task' }, 'task'], [{ CLAUDE_RUNNER_MODE: 'session' }, 'session'],
  ])('%j is %s', (env, mode) => {
    expect(runnerModeOf(env)).toBe(mode);
  });

  it('refuses an unknown mode by name', () => {
    expect(() => runnerModeOf({ CLAUDE_RUNNER_MODE: 'chat' })).toThrow(/CLAUDE_RUNNER_MODE/);
  });
});

describe('loadSessionConfig', () => {
  const { CLAUDE_TASK_NAMESPACE: _ns, CLAUDE_TASK_NAME: _name, CLAUDE_TASK_UID: _uid, ...common } = valid;
  const session = {
    ...common, CLAUDE_RUNNER_MODE: 'session', CLAUDE_SESSION_NAMESPACE: 'team-a', CLAUDE_SESSION_NAME: 'chat',
    CLAUDE_SESSION_UID: '6f1c2c8e-0d5a-4a8e-9d43-2b1f0c9e7a11', CLAUDE_SESSION_ID: '6f1c2c8e-0d5a-4a8e-9d43-2b1f0c9e7a11',
  };

  it('parses the session variables, with the default idle timeout', () => {
    expect(loadSessionConfig(session)).toMatchObject({
      session: { namespace: 'team-a', name: 'chat', uid: session.CLAUDE_SESSION_UID, claudeSessionId: session.CLAUDE_SESSION_ID,
        idleTimeoutMs: 300_000 },
      specFile: '/etc/claude-task/spec.json', workspaceDir: '/workspace', claudeHome: '/claude-home',
    });
  });

  it('takes an idle timeout from 1 s (the CRD asks for 10 s or more)', () => {
    expect(loadSessionConfig({ ...session, CLAUDE_SESSION_IDLE_TIMEOUT_SECONDS: '1' }).session.idleTimeoutMs).toBe(1000);
  });

  it.each([
    ['CLAUDE_SESSION_ID', 'not-a-uuid'], ['CLAUDE_SESSION_IDLE_TIMEOUT_SECONDS', '0'], ['CLAUDE_SESSION_IDLE_TIMEOUT_SECONDS', 'soon'],
    ['CLAUDE_SESSION_NAME', 'Not_A_Name'], ['CLAUDE_SESSION_NAMESPACE', ''],
  ])('refuses %s=%j by name', (name, value) => {
    expect(() => loadSessionConfig({ ...session, [name]: value })).toThrow(new RegExp(name));
  });

  it('does not need the task variables, nor does a task need the session ones', () => {
    expect(() => loadSessionConfig(session)).not.toThrow();
    expect(() => loadConfig(session)).toThrow(/CLAUDE_TASK_NAME/);
  });
});

describe('agentEnvOf', () => {
  it('takes CLAUDE_AGENT_ENV_<NAME> as <NAME> and nothing else', () => {
    expect(agentEnvOf({ CLAUDE_AGENT_ENV_GITHUB_TOKEN: 't', CLAUDE_AGENT_ENV_: 'x', REDIS_URL: 'r', PATH: '/bin' }))
      .toEqual({ GITHUB_TOKEN: 't' });
  });
});
