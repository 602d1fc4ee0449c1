// What a ClaudeSession e2e test does as a user would: the REST API through curl
// with the stack's submitter token, the session read back from the apiserver,
// and the WebSocket URL of its event stream. Made at module level with a getter,
// since the stack starts in a beforeAll.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { promisify } from 'node:util';
import { expect } from '@jest/globals';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { claudeSessionPlural, type ClaudeSession } from '../../../crds/src/claude-session.ts';
import { group, version } from '../../../crds/src/claude-task.ts';
import { kubeConfig, waitFor } from '../../support/cluster.ts';
import type { SessionStack } from './session-stack.ts';
import { kubectlWaitTimeout } from './tasks.ts';

const run = promisify(execFile);

export interface Answer { status: number; json: Record<string, unknown> }

export interface SessionClient {
  /** A call to the stack's API under /api/v1/namespaces/<the fixture's namespace>. */
  curl(method: string, path: string, body?: object, headers?: string[]): Promise<Answer>;
  /** POST a message and wait for its answer. */
  send(session: string, text: string, headers?: string[]): Promise<Answer>;
  getSession(name: string): Promise<ClaudeSession>;
  /** Polls the session until `check` holds; the error has its last status and the operator's log. */
  sessionWhen(name: string, what: string, check: (session: ClaudeSession) => boolean, timeoutMs?: number): Promise<ClaudeSession>;
  /** POST /sessions, then `kubectl wait` for Ready. */
  createSession(name: string, spec?: Record<string, unknown>): Promise<ClaudeSession>;
  /** The WebSocket URL of the session's events from seq `from` on. */
  streamUrl(session: string, from: number): string;
}

export function sessionClient(stackOf: () => SessionStack): SessionClient {
  const custom = kubeConfig().makeApiClient(CustomObjectsApi);
  const namespace = () => stackOf().fixture.ns.name;

  async function curl(method: string, path: string, body?: object, headers: string[] = []): Promise<Answer> {
    const { api, bearer } = stackOf();
    const args = ['-sS', '-X', method, '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${bearer}`, '-H', 'Content-Type: application/json',
      ...headers.flatMap((header) => ['-H', header]), ...(body ? ['--data-binary', '@-'] : []),
      `${api.url}/api/v1/namespaces/${namespace()}${path}`];
    const child = run('curl', args, { maxBuffer: 16 * 1024 * 1024 });
    if (body) child.child.stdin?.end(JSON.stringify(body));
    const { stdout } = await child;
    const lines = stdout.trimEnd().split('\n');
    const status = Number(lines.pop());
    const text = lines.join('\n');
    return { status, json: text === '' ? {} : JSON.parse(text) as Record<string, unknown> };
  }

  async function getSession(name: string): Promise<ClaudeSession> {
    return await custom.getNamespacedCustomObject({ group, version, namespace: namespace(), plural: claudeSessionPlural, name }) as ClaudeSession;
  }

  async function sessionWhen(name: string, what: string, check: (session: ClaudeSession) => boolean, timeoutMs = 120_000): Promise<ClaudeSession> {
    let last: ClaudeSession | undefined;
    await waitFor(`session ${name}: ${what}`, async () => check(last = await getSession(name)), { timeoutMs, intervalMs: 250 })
      .catch(async (error: Error) => {
        const log = await fs.readFile(stackOf().fixture.operator.logFile, 'utf8').catch(() => '');
        throw new Error(`${error.message}\nlast status: ${JSON.stringify(last?.status)}\n--- operator log ---\n${log.split('\n').slice(-40).join('\n')}`);
      });
    return last!;
  }

  return {
    curl,
    getSession,
    sessionWhen,
    send: (session, text, headers = []) => curl('POST', `/sessions/${session}/messages`, { text }, headers),
    async createSession(name, spec = {}) {
      const created = await curl('POST', '/sessions', { name, spec });
      expect(created.status).toBe(202);
      const waited = await stackOf().fixture.ns.kubectl('wait', `claudesession/${name}`, '--for=condition=Ready', kubectlWaitTimeout);
      expect(waited.stderr).toBe('');
      return getSession(name);
    },
    streamUrl: (session, from) => `${stackOf().api.url.replace('http', 'ws')}/api/v1/namespaces/${namespace()}/sessions/${session}/stream?from=${from}`,
  };
}
