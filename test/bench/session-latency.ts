// Benchmark (not a test): how long a ClaudeSession's message waits for its first
// event, for a warm session (its pod waits for messages) and for a Suspended one
// (the message starts a new pod, which resumes the conversation), beside a bare
// pod's start on the same bed in the same run.
//
//   node test/bench/session-latency.ts [--rounds 5] [--settings FILE]
//
// bare pod: create of a busybox pod to its phase Running (the node's cost of a
// pod). warm: POST …/messages?async=true to the first event of that message on
// the session's WebSocket (the runner took it and started the CLI's turn).
// suspended: the same after the session suspended itself (idleTimeoutSeconds 10):
// the operator is woken, makes the next Job, the pod starts, restores and takes
// the message. Each figure is the median of --rounds, with the ratio to the bare pod.
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { WebSocket } from 'ws';
import { waitFor } from '../bed/process.ts';
import {
  bringUpStack, createNamespace, deleteNamespaces, fixed, kubeConfigOf, log, machineLines, printTable, runBench, spread, type StackSettings,
} from './support.ts';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, settings: { type: 'string' } } });
const rounds = Number(args.rounds);
const namespace = `bench-sessions-${Date.now().toString(36)}`;

async function api(settings: StackSettings, method: string, path: string, body?: object): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${settings.API_URL}/api/v1/namespaces/${namespace}${path}`, {
    method, headers: { authorization: `Bearer ${settings.API_TOKEN}`, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, json: await response.json().catch(() => ({})) as Record<string, unknown> };
}

/** A follower of the session's stream that resolves the first event of each message id. */
function follower(settings: StackSettings, session: string) {
  const firstEvent = new Map<string, number>();
  const ws = new WebSocket(`${settings.API_URL.replace('http', 'ws')}/api/v1/namespaces/${namespace}/sessions/${session}/stream?from=0`,
    { headers: { authorization: `Bearer ${settings.API_TOKEN}` } });
  ws.on('message', (raw) => {
    const { messageId } = JSON.parse(String(raw)) as { messageId?: string };
    if (messageId && !firstEvent.has(messageId)) firstEvent.set(messageId, performance.now());
  });
  const opened = new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  return { opened, firstEvent, close: () => ws.close() };
}

async function phaseOf(settings: StackSettings, session: string): Promise<string | undefined> {
  const custom = kubeConfigOf(settings).makeApiClient(CustomObjectsApi);
  const object = await custom.getNamespacedCustomObject({ group: 'claude-operator.io', version: 'v1alpha1', namespace, plural: 'claudesessions', name: session });
  return (object as { status?: { phase?: string } }).status?.phase;
}

/** Milliseconds from the POST to the message's first event on the stream. */
async function messageToFirstEvent(settings: StackSettings, session: string, stream: ReturnType<typeof follower>, text: string): Promise<number> {
  const start = performance.now();
  const accepted = await api(settings, 'POST', `/sessions/${session}/messages?async=true`, { text });
  if (accepted.status !== 202) throw new Error(`message refused: ${accepted.status} ${JSON.stringify(accepted.json)}`);
  const id = accepted.json.messageId as string;
  await waitFor(`first event of ${id}`, async () => stream.firstEvent.has(id), { timeoutMs: 180_000, intervalMs: 10 });
  await waitFor(`answer of ${id}`, async () => (await api(settings, 'GET', `/sessions/${session}/messages/${id}`)).json.state !== 'accepted',
    { timeoutMs: 180_000, intervalMs: 100 });
  return stream.firstEvent.get(id)! - start;
}

async function barePodStart(settings: StackSettings, index: number): Promise<number> {
  const core = kubeConfigOf(settings).makeApiClient(CoreV1Api);
  const name = `bare-${index}`;
  const start = performance.now();
  await core.createNamespacedPod({ namespace, body: { metadata: { name }, spec: { restartPolicy: 'Never', containers: [
    { name: 'main', image: 'busybox:1.37', command: ['sh', '-c', 'sleep 30'] }] } } });
  await waitFor(`${name} Running`, async () => (await core.readNamespacedPod({ name, namespace })).status?.phase === 'Running',
    { timeoutMs: 120_000, intervalMs: 10 });
  const elapsed = performance.now() - start;
  await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
  return elapsed;
}

await runBench('session-latency', async (cleanups) => {
  const { settings } = await bringUpStack(args.settings, cleanups);
  const kubeConfig = kubeConfigOf(settings);
  await createNamespace(kubeConfig, namespace);
  cleanups.add(`namespace ${namespace}`, () => deleteNamespaces(kubeConfig, [namespace]));
  await kubeConfig.makeApiClient(CoreV1Api).createNamespacedSecret({ namespace, body: {
    metadata: { name: 'anthropic-api-key' }, stringData: { 'api-key': process.env.ANTHROPIC_API_KEY ?? 'scripted-api-key' } } });

  const bare: number[] = [];
  const warm: number[] = [];
  const suspended: number[] = [];
  const created = await api(settings, 'POST', '/sessions', { name: 'bench', spec: { idleTimeoutSeconds: 10 } });
  if (created.status !== 202) throw new Error(`session refused: ${created.status} ${JSON.stringify(created.json)}`);
  await waitFor('session Ready', async () => (await phaseOf(settings, 'bench')) === 'Ready', { timeoutMs: 180_000, intervalMs: 200 });
  const stream = follower(settings, 'bench');
  await stream.opened;
  for (let round = 1; round <= rounds; round++) {
    bare.push(await barePodStart(settings, round));
    warm.push(await messageToFirstEvent(settings, 'bench', stream, `warm message ${round}`));
    log(`round ${round}: bare ${fixed(bare.at(-1)!, 0)} ms, warm ${fixed(warm.at(-1)!, 0)} ms; waiting for the session to suspend`);
    await waitFor('session Suspended', async () => (await phaseOf(settings, 'bench')) === 'Suspended', { timeoutMs: 180_000, intervalMs: 200 });
    suspended.push(await messageToFirstEvent(settings, 'bench', stream, `after a suspend ${round}`));
    log(`round ${round}: suspended ${fixed(suspended.at(-1)!, 0)} ms`);
  }
  stream.close();

  const base = spread(bare).p50;
  printTable(`message to first event (${rounds} rounds, median; ratio to a bare pod's start in the same run)`,
    ['what', 'p50 ms', 'max ms', 'ratio'],
    [['bare pod start', fixed(base, 0), fixed(spread(bare).max, 0), '1.00'],
      ['warm session', fixed(spread(warm).p50, 0), fixed(spread(warm).max, 0), fixed(spread(warm).p50 / base, 2)],
      ['suspended session', fixed(spread(suspended).p50, 0), fixed(spread(suspended).max, 0), fixed(spread(suspended).p50 / base, 2)]]);
  console.log(`\n${machineLines().join('\n')}`);
});
