import { describe, expect, test } from '@jest/globals';
import type { ClaudeTask } from '../../crds/src/claude-task.ts';
import { parseOperatorConfig } from './config.ts';
import { podPaths } from '../../packages/contracts/src/pod-contract.ts';
import { desiredJob, desiredSpecSecret } from './desired-job.ts';
import { jobNameFor, taskLabelValue } from './names.ts';
// A test may import the deployable it checks against: the runner reads the pod this Job makes.
import { loadConfig } from '../../runner/src/config.ts';

const config = parseOperatorConfig({
  REDIS_URL: 'redis://redis:6379', DATABASE_URL: 'postgres://db/x', ANTHROPIC_BASE_URL: 'http://gateway:8080', RUNNER_REDIS_ACL_SECRET: 'k'.repeat(32),
});
const task = (spec: Partial<ClaudeTask['spec']> = {}): ClaudeTask => ({
  apiVersion: 'claude-operator.io/v1alpha1',
  kind: 'ClaudeTask',
  metadata: { name: 'fix-bug', namespace: 'team-a', uid: '1111-2222', generation: 1 },
  spec: { prompt: 'Fix the bug', ...spec },
});

describe('job names', () => {
  test('are deterministic, differ by uid, and fit in 63 characters', () => {
    expect(jobNameFor('fix-bug', 'u1')).toBe(jobNameFor('fix-bug', 'u1'));
    expect(jobNameFor('fix-bug', 'u1')).not.toBe(jobNameFor('fix-bug', 'u2'));
    const long = jobNameFor('a'.repeat(253), 'u1');
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });
});

describe('desiredJob', () => {
  test('is owned by the task, so garbage collection removes it with the task', () => {
    const job = desiredJob(task(), config);
    expect(job.metadata?.ownerReferences).toEqual([expect.objectContaining({
      kind: 'ClaudeTask', name: 'fix-bug', uid: '1111-2222', controller: true, blockOwnerDeletion: true })]);
  });

  test('without Kueue the Job runs at once; with a LocalQueue it is created suspended with Kueue\'s label, for Kueue to admit', () => {
    const plain = desiredJob(task(), config);
    expect(plain.spec?.suspend).toBeUndefined();
    expect(plain.metadata?.labels?.['kueue.x-k8s.io/queue-name']).toBeUndefined();
    const queued = desiredJob(task(), config, { kueueQueue: 'claude' });
    expect(queued.spec?.suspend).toBe(true);
    expect(queued.metadata?.labels).toMatchObject({ 'kueue.x-k8s.io/queue-name': 'claude', ...plain.metadata?.labels });
  });

  test.each([
    ['defaults', {}, { backoffLimit: 0, activeDeadlineSeconds: 3600 }],
    ['retries and timeout', { retries: 2, timeoutSeconds: 60 }, { backoffLimit: 2, activeDeadlineSeconds: 60 }],
  ])('%s map to the Job', (_name, spec, expected) => {
    expect(desiredJob(task(spec), config).spec).toMatchObject(expected);
  });

  test('evictions do not use up retries, bad input fails at once, and replacements wait for a terminated pod', () => {
    const spec = desiredJob(task(), config).spec!;
    expect(spec.podReplacementPolicy).toBe('Failed');
    expect(spec.podFailurePolicy?.rules).toEqual([
      expect.objectContaining({ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] }),
      expect.objectContaining({ action: 'FailJob', onExitCodes: expect.objectContaining({ operator: 'In', values: [2, 4, 5, 6] }) }),
    ]);
    expect(spec.template.spec?.restartPolicy).toBe('Never');
  });

  test('the pod meets the restricted profile and has no service-account token', () => {
    const pod = desiredJob(task(), config).spec!.template.spec!;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.containers[0]?.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  });

  test('the API key is a mounted file from its Secret, never an env var', () => {
    const pod = desiredJob(task({ apiKeySecretRef: { name: 'my-key', key: 'token' } }), config).spec!.template.spec!;
    expect(pod.volumes).toContainEqual({ name: 'anthropic', secret: { secretName: 'my-key', items: [{ key: 'token', path: 'api-key' }], defaultMode: 0o440 } });
    const env = pod.containers[0]?.env ?? [];
    expect(env).toContainEqual({ name: 'ANTHROPIC_API_KEY_FILE', value: podPaths.apiKeyFile });
    expect(JSON.stringify(env)).not.toMatch(/my-key|ANTHROPIC_API_KEY"/);
  });

  test('the default API key Secret comes from the operator config', () => {
    const pod = desiredJob(task(), config).spec!.template.spec!;
    expect(pod.volumes).toContainEqual(expect.objectContaining({ name: 'anthropic', secret: expect.objectContaining({ secretName: 'anthropic-api-key', items: [{ key: 'api-key', path: 'api-key' }] }) }));
  });

  test('the base URL passes through, and the task env follows the runner contract env', () => {
    const env = desiredJob(task({ env: [{ name: 'TEAM', value: 'a' }] }), config).spec!.template.spec!.containers[0]!.env!;
    expect(env).toContainEqual({ name: 'ANTHROPIC_BASE_URL', value: 'http://gateway:8080' });
    // The runner's own Redis user, from the spec Secret: no password in the pod spec.
    expect(env).toContainEqual({ name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: expect.stringMatching(/-spec$/), key: 'redis-url' } } });
    expect(JSON.stringify(env)).not.toContain('redis://');
    expect(env.at(-1)).toEqual({ name: 'CLAUDE_AGENT_ENV_TEAM', value: 'a' });
  });

  test('envFrom keeps its source and gets the agent prefix before its own', () => {
    const container = desiredJob(task({ envFrom: [{ secretRef: { name: 'tokens' }, prefix: 'GH_' }] }), config).spec!.template.spec!.containers[0]!;
    expect(container.envFrom).toEqual([{ secretRef: { name: 'tokens' }, prefix: 'CLAUDE_AGENT_ENV_GH_' }]);
  });

  test('a PVC workspace replaces the emptyDir', () => {
    const volumes = desiredJob(task({ workspace: { persistentVolumeClaim: { claimName: 'ws' } } }), config).spec!.template.spec!.volumes!;
    expect(volumes).toContainEqual({ name: 'workspace', persistentVolumeClaim: { claimName: 'ws' } });
  });

  test.each([
    ['no git workspace', {}, undefined],
    ['a git workspace without credentials', { workspace: { git: { url: 'https://example.com/r.git' } } }, undefined],
    ['https credentials', { workspace: { git: { url: 'https://example.com/r.git', credentialsSecretRef: { name: 'git-basic' } } } }, 'git-basic'],
    ['ssh credentials on a PVC', { workspace: { git: { url: 'git@example.com:r.git', credentialsSecretRef: { name: 'deploy-key' } },
      persistentVolumeClaim: { claimName: 'ws' } } }, 'deploy-key'],
  ] as Array<[string, Partial<ClaudeTask['spec']>, string | undefined]>)('git credentials: %s', (_name, spec, secretName) => {
    const pod = desiredJob(task(spec), config).spec!.template.spec!;
    const container = pod.containers[0]!;
    const volume = pod.volumes!.find((v) => v.name === 'git-credentials');
    const mount = container.volumeMounts!.find((m) => m.name === 'git-credentials');
    const env = container.env!.find((e) => e.name === 'GIT_CREDENTIALS_DIR');
    if (secretName === undefined) {
      expect([volume, mount, env]).toEqual([undefined, undefined, undefined]);
      return;
    }
    // Read-only, readable by the pod's fsGroup (the runner's uid is not the files' owner), and never an env var.
    expect(volume).toEqual({ name: 'git-credentials', secret: { secretName, defaultMode: 0o440 } });
    expect(pod.securityContext?.fsGroup).toBe(pod.securityContext?.runAsUser);
    expect(mount).toEqual({ name: 'git-credentials', mountPath: '/var/run/claude-operator/git-credentials', readOnly: true });
    expect(env).toEqual({ name: 'GIT_CREDENTIALS_DIR', value: podPaths.gitCredentials });
    expect(JSON.stringify(container.env)).not.toContain(secretName);
  });
});

test('the spec Secret carries the spec as JSON and is owned by the task', () => {
  const secret = desiredSpecSecret(task({ model: 'claude-x' }), { DEFAULT_MODEL: 'claude-default' });
  expect(JSON.parse(secret.stringData!['spec.json']!)).toEqual({ prompt: 'Fix the bug', model: 'claude-x' });
  expect(secret.metadata?.ownerReferences?.[0]?.uid).toBe('1111-2222');
});

test.each([
  ['the spec names a model', { model: 'claude-x' }, 'claude-default', 'claude-x'],
  ['the operator has a default', {}, 'claude-default', 'claude-default'],
  ['neither: the CLI decides', {}, undefined, undefined],
])('the model the runner gets: %s', (_name, spec, defaultModel, expected) => {
  const secret = desiredSpecSecret(task(spec), { DEFAULT_MODEL: defaultModel });
  expect(JSON.parse(secret.stringData!['spec.json']!).model).toBe(expected);
});

test.each([
  ['no budget, no cap of its own: none', {}, undefined, undefined],
  ['its own cap, no budget: its own', { maxBudgetUSD: '5.00' }, undefined, '5.00'],
  ['a budget\'s rest, no cap of its own: the rest', {}, '1.25', '1.25'],
  ['its own cap below the rest: its own', { maxBudgetUSD: '0.50' }, '1.25', '0.50'],
  ['the rest below its own cap: the rest', { maxBudgetUSD: '5.00' }, '1.25', '1.25'],
])('the runner\'s maxBudgetUSD: %s', (_name, spec, remainingUSD, expected) => {
  const secret = desiredSpecSecret(task(spec), { DEFAULT_MODEL: undefined }, { remainingUSD });
  expect(JSON.parse(secret.stringData!['spec.json']!).maxBudgetUSD).toBe(expected);
});

describe('a task name longer than a label value (63) still makes valid objects', () => {
  const longName = `${'a'.repeat(70)}.${'b'.repeat(100)}`;
  const long = { ...task(), metadata: { ...task().metadata, name: longName } };
  const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

  test.each([
    ['the Job', desiredJob(long, config).metadata!],
    ['the pod template', desiredJob(long, config).spec!.template.metadata!],
    ['the spec Secret', desiredSpecSecret(long, config).metadata!],
  ])('%s: labels fit, and the annotation has the full name', (_what, metadata) => {
    for (const value of Object.values(metadata.labels ?? {})) {
      expect(value.length).toBeLessThanOrEqual(63);
      expect(value).toMatch(labelValue);
    }
    expect(metadata.annotations?.['claude-operator.io/task-name']).toBe(longName);
  });

  test('a short name is its own label value', () => {
    expect(desiredJob(task(), config).metadata?.labels?.['claude-operator.io/task']).toBe('fix-bug');
  });

  test('long names that share their first 54 characters get different label values', () => {
    expect(taskLabelValue(`${'a'.repeat(60)}-one`)).not.toBe(taskLabelValue(`${'a'.repeat(60)}-two`));
  });
});

test('with RUNNER_REDIS_USERS=shared the runner gets RUNNER_REDIS_URL as it is', () => {
  const shared = parseOperatorConfig({ REDIS_URL: 'redis://redis:6379', DATABASE_URL: 'postgres://db/x', RUNNER_REDIS_USERS: 'shared' });
  expect(desiredJob(task(), shared).spec!.template.spec!.containers[0]!.env).toContainEqual({ name: 'REDIS_URL', value: 'redis://redis:6379' });
});

test('the spec Secret carries the runner\'s Redis URL, which its volume does not show as a file', () => {
  const secret = desiredSpecSecret(task(), config, { runnerRedisUrl: 'redis://claude-task-u:pw@redis:6379' });
  expect(secret.stringData?.['redis-url']).toBe('redis://claude-task-u:pw@redis:6379');
  const volume = desiredJob(task(), config).spec!.template.spec!.volumes!.find((v) => v.name === 'task');
  expect(volume?.secret?.items).toEqual([{ key: 'spec.json', path: 'spec.json' }]);
});

test('per-task Redis users need the secret their passwords come from', () => {
  expect(() => parseOperatorConfig({ REDIS_URL: 'redis://r', DATABASE_URL: 'postgres://d' })).toThrow(/RUNNER_REDIS_ACL_SECRET: is required/);
});

test('bad operator config names every bad variable', () => {
  expect(() => parseOperatorConfig({ DEFAULT_TIMEOUT_SECONDS: 'soon' })).toThrow(/DEFAULT_TIMEOUT_SECONDS[\s\S]*REDIS_URL[\s\S]*DATABASE_URL/);
});

describe('the pod contract', () => {
  test('the runner accepts the environment the Job gives it, and finds every path where the Job mounts it', () => {
    const spec = { workspace: { git: { url: 'https://example.com/r.git', credentialsSecretRef: { name: 'git' } } }, env: [{ name: 'FOO', value: 'bar' }] };
    const pod = desiredJob(task(spec), { ...config, RUNNER_REDIS_USERS: 'shared' }).spec!.template.spec!;
    const container = pod.containers[0]!;
    const env = Object.fromEntries((container.env ?? []).map((variable) => [variable.name, variable.value]));
    const runner = loadConfig({ ...env, PATH: '' });
    expect(runner.task).toEqual({ namespace: 'team-a', name: 'fix-bug', uid: '1111-2222', attempt: undefined });
    const mounted = (file: string) => container.volumeMounts?.some((mount) => file === mount.mountPath || file.startsWith(`${mount.mountPath}/`));
    for (const file of [runner.specFile, runner.apiKeyFile, runner.workspaceDir, runner.claudeHome, runner.tmpDir, runner.gitCredentialsDir!]) {
      expect(mounted(file)).toBe(true);
    }
    expect(runner.redisUrl).toBe('redis://redis:6379');
    expect(runner.agentEnv).toEqual({ FOO: 'bar' });
  });
});
