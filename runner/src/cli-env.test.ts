import { describe, expect, it } from '@jest/globals';
import { buildCliEnv, type CliEnvInput } from './cli-env.ts';

const input: CliEnvInput = {
  runnerEnv: { PATH: '/usr/bin', LANG: 'C.UTF-8', REDIS_URL: 'redis://r', CLAUDE_TASK_NAME: 't', ANTHROPIC_API_KEY_FILE: '/k' },
  agentEnv: {},
  apiKey: 'sk-test',
  anthropicBaseUrl: undefined,
  proxy: {},
  claudeHome: '/claude-home',
  permissionMode: undefined,
};

describe('buildCliEnv', () => {
  it('takes only allowlisted variables from the runner, plus what the CLI needs', () => {
    expect(buildCliEnv(input)).toEqual({
      env: {
        PATH: '/usr/bin', LANG: 'C.UTF-8', HOME: '/claude-home', ANTHROPIC_API_KEY: 'sk-test',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_AUTOUPDATER: '1',
      },
      ignoredAgentEnv: [],
    });
  });

  it('passes the base URL and proxies (both spellings)', () => {
    const { env } = buildCliEnv({ ...input, anthropicBaseUrl: 'http://127.0.0.1:1', proxy: { HTTPS_PROXY: 'http://p:3128', NO_PROXY: 'svc' } });
    expect(env).toMatchObject({
      ANTHROPIC_BASE_URL: 'http://127.0.0.1:1', HTTPS_PROXY: 'http://p:3128', https_proxy: 'http://p:3128', NO_PROXY: 'svc', no_proxy: 'svc',
    });
  });

  it('adds the agent variables but not over what the runner controls', () => {
    const { env, ignoredAgentEnv } = buildCliEnv({
      ...input,
      agentEnv: { GITHUB_TOKEN: 'g', CLAUDE_CODE_MAX_RETRIES: '0', PATH: '/agent/bin', ANTHROPIC_API_KEY: 'other', https_proxy: 'x', HOME: '/x' },
    });
    expect(env).toMatchObject({ GITHUB_TOKEN: 'g', CLAUDE_CODE_MAX_RETRIES: '0', PATH: '/agent/bin', ANTHROPIC_API_KEY: 'sk-test', HOME: '/claude-home' });
    expect(env.https_proxy).toBeUndefined();
    expect(ignoredAgentEnv).toEqual(['ANTHROPIC_API_KEY', 'https_proxy', 'HOME']);
  });

  it('tells the CLI it is in a sandbox only for bypassPermissions', () => {
    expect(buildCliEnv({ ...input, permissionMode: 'bypassPermissions' }).env.IS_SANDBOX).toBe('1');
    expect(buildCliEnv({ ...input, permissionMode: 'acceptEdits' }).env.IS_SANDBOX).toBeUndefined();
  });
});
