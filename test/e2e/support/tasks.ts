// ClaudeTasks as the e2e tests handle them: applied with the bed's kubectl, as a
// user would, and read back through the API while waiting for a state (with the
// operator's last log lines when the wait runs out).
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect } from '@jest/globals';
import { CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import { claudeTaskPlural, group, version, type ClaudeTask, type Condition } from '../../../crds/src/claude-task.ts';
import { bedSetting, kubeConfig, waitFor, type TestNamespace } from '../../support/cluster.ts';
import type { OperatorUnderTest } from './operator-under-test.ts';

/** kubectl wait's own --timeout: long, since the machine is shared. The tests assert no durations. */
export const kubectlWaitTimeout = '--timeout=240s';

export const conditionOf = (task: ClaudeTask, type: string): Condition | undefined => task.status?.conditions?.find((c) => c.type === type);

/** `kubectl get <args> -o json`, parsed; anything on stderr fails the test. */
export async function kubectlGet<T>(ns: TestNamespace, ...args: string[]): Promise<T> {
  const got = await ns.kubectl('get', ...args, '-o', 'json');
  expect(got.stderr).toBe('');
  return JSON.parse(got.stdout) as T;
}

export interface TaskTools {
  getTask(name: string): Promise<ClaudeTask>;
  /** Polls the task until `check` holds; the error shows its last status and the operator's log. */
  taskWhen(name: string, what: string, check: (task: ClaudeTask) => boolean, timeoutMs?: number): Promise<ClaudeTask>;
  /** `kubectl apply -f` of a ClaudeTask with this name and spec; returns the object as applied. */
  applyTask(name: string, spec: Record<string, unknown>): Promise<ClaudeTask>;
  /** The pods labelled with the task's name. */
  podsOf(task: ClaudeTask): Promise<V1Pod[]>;
  /** `kubectl get events --field-selector involvedObject.name=<name>`: the task's Kubernetes Events, oldest first. */
  eventsOf(name: string): Promise<Array<{ type: string; reason: string; message: string }>>;
  /** The operator's last log lines, for an assertion's message. */
  operatorLog(lines?: number): Promise<string>;
}

export function taskTools(ns: TestNamespace, operator: Pick<OperatorUnderTest, 'logFile'>): TaskTools {
  const custom = kubeConfig().makeApiClient(CustomObjectsApi);
  const operatorLog = async (lines = 30) =>
    (await fs.readFile(operator.logFile, 'utf8').catch(() => '')).split('\n').slice(-lines).join('\n');
  const getTask = async (name: string) =>
    await custom.getNamespacedCustomObject({ group, version, namespace: ns.name, plural: claudeTaskPlural, name }) as ClaudeTask;
  return {
    getTask,
    operatorLog,
    async taskWhen(name, what, check, timeoutMs = 90_000) {
      let last: ClaudeTask | undefined;
      await waitFor(`task ${name}: ${what}`, async () => check(last = await getTask(name)), { timeoutMs, intervalMs: 250 })
        .catch(async (error: Error) => {
          throw new Error(`${error.message}\nlast status: ${JSON.stringify(last?.status)}\n--- operator log ---\n${await operatorLog()}`);
        });
      return last!;
    },
    async applyTask(name, spec) {
      // The name in the file's name may be cut: file names have a limit of their own (255 bytes).
      const file = path.join(bedSetting('BED_DIR'), `${ns.name}-${name.slice(0, 100)}-${Date.now()}.json`);
      await fs.writeFile(file, JSON.stringify({ apiVersion: `${group}/${version}`, kind: 'ClaudeTask', metadata: { name }, spec }));
      const applied = await ns.kubectl('apply', '-f', file, '-o', 'json');
      expect(applied.stderr).toBe('');
      return JSON.parse(applied.stdout) as ClaudeTask;
    },
    async eventsOf(name) {
      const got = await ns.kubectl('get', 'events', '--field-selector', `involvedObject.name=${name},involvedObject.kind=ClaudeTask`,
        '--sort-by', '.metadata.creationTimestamp', '-o', 'json');
      expect({ code: got.code, stderr: got.stderr }).toEqual({ code: 0, stderr: '' });
      return (JSON.parse(got.stdout) as { items: Array<{ type: string; reason: string; message: string }> }).items
        .map(({ type, reason, message }) => ({ type, reason, message }));
    },
    async podsOf(task) {
      return (await ns.core.listNamespacedPod({ namespace: ns.name, labelSelector: `claude-operator.io/task=${task.metadata.name}` })).items;
    },
  };
}
