// Fault 8: bad input at scale. zzuf (a mutation fuzzer from Debian, not ours)
// flips bits in valid requests: their bodies, paths and header values, whole raw
// requests, and the WebSocket frames a client sends after a valid upgrade. Each
// request goes under one of many tokens, so the per-caller rate limit does not hide
// it. The goal: no 5xx and no crash; the status codes are counted.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { insertTask } from '../../../api/src/stream/testing.ts';
import {
  createNamespace, deleteNamespaces, findNodeScript, inParallel, kubeConfigOf,
} from '../../bench/support.ts';
import type { ClientSettings, Fault, FaultResult, Scale } from '../fault.ts';
import type { RealNodeSystem } from '../real-node-system.ts';
import { mintToken } from '../tokens.ts';

/** zzuf's default mode flips bits and keeps every byte in place, so one run over k
 * copies of a seed yields k variants of the same length, each mutated differently. */
export function zzufVariants(seed: Buffer, count: number, zzufSeed: number, ratio: number): Buffer[] {
  const input = Buffer.concat(Array.from({ length: count }, () => seed));
  const output = execFileSync('zzuf', ['-s', String(zzufSeed), '-r', String(ratio)], { input, maxBuffer: 1 << 28 });
  if (output.length !== input.length) throw new Error(`zzuf changed the length (${input.length} -> ${output.length}); it must only flip bits`);
  return Array.from({ length: count }, (_unused, index) => output.subarray(index * seed.length, (index + 1) * seed.length));
}

interface Target { namespace: string; streamTask: string }

/** The valid requests the mutations start from; each names the part zzuf may touch. */
function seeds(target: Target) {
  const ns = target.namespace;
  const task = JSON.stringify({ name: 'fuzz-task', labels: { a: 'b' }, spec: { prompt: 'Say hello.', model: 'claude-sonnet-4-5', maxTurns: 2, timeoutSeconds: 60 } });
  const session = JSON.stringify({ name: 'fuzz-session', spec: { model: 'claude-sonnet-4-5', idleTimeoutSeconds: 60 } });
  const message = JSON.stringify({ text: 'Hello there, how are you?' });
  return [
    { part: 'body', method: 'POST', path: `/api/v1/namespaces/${ns}/tasks`, body: task },
    { part: 'body', method: 'POST', path: `/api/v1/namespaces/${ns}/sessions`, body: session },
    { part: 'body', method: 'POST', path: `/api/v1/namespaces/${ns}/sessions/fuzz-session/messages?async=true`, body: message },
    { part: 'path', method: 'GET', path: `/api/v1/namespaces/${ns}/tasks?limit=10&labelSelector=a%3Db&continue=eyJ2IjoxfQ` },
    { part: 'path', method: 'GET', path: `/api/v1/namespaces/${ns}/tasks/fuzz-task/events?after=0&limit=100` },
    { part: 'path', method: 'GET', path: `/api/v1/namespaces/${ns}/tasks/fuzz-task/report?format=md` },
    { part: 'header', method: 'POST', path: `/api/v1/namespaces/${ns}/tasks`, body: task, header: ['content-type', 'application/json; charset=utf-8'] },
    { part: 'header', method: 'POST', path: `/api/v1/namespaces/${ns}/sessions/fuzz-session/messages?async=true`, body: message, header: ['idempotency-key', 'c0ffee-0123456789-abcdef'] },
    { part: 'header', method: 'GET', path: `/api/v1/namespaces/${ns}/tasks/fuzz-task/report`, header: ['accept', 'text/markdown;q=0.9, application/json;q=0.5'] },
    { part: 'request', method: 'POST', path: `/api/v1/namespaces/${ns}/tasks`, body: task },
    { part: 'frames', method: 'GET', path: `/api/v1/namespaces/${ns}/tasks/${target.streamTask}/stream?from=0` },
  ] as const;
}
type Seed = ReturnType<typeof seeds>[number];

function rawRequest(seed: { method: string; path: string | Buffer; body?: string | Buffer; header?: readonly [string, string | Buffer] }, token: string, host: string): Buffer {
  const body = seed.body === undefined ? Buffer.alloc(0) : Buffer.from(seed.body);
  const lines: Buffer[] = [Buffer.from(`${seed.method} `), Buffer.from(seed.path), Buffer.from(` HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n`)];
  if (seed.header) lines.push(Buffer.from(`${seed.header[0]}: `), Buffer.from(seed.header[1]), Buffer.from('\r\n'));
  if (body.length && seed.header?.[0] !== 'content-type') lines.push(Buffer.from('Content-Type: application/json\r\n'));
  lines.push(Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body);
  return Buffer.concat(lines);
}

function upgradeRequest(path: string, token: string, host: string): Buffer {
  return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\n`
    + `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`);
}

/** A WebSocket client frame (masked, as clients must), text opcode. */
function clientFrame(payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((byte, index) => byte ^ mask[index % 4]!));
  const length = payload.length < 126 ? Buffer.from([0x80 | payload.length]) : Buffer.from([0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([Buffer.from([0x81]), length, mask, masked]);
}

/** Sends bytes, returns the status of the answer (0: closed without one). After a 101 it
 * sends `after` (mutated frames) and waits for the server to close or 2 s. */
function exchange(target: ApiAddress, request: Buffer, after?: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const socket = net.connect(target.port, target.host);
    let status = 0;
    let head = '';
    const done = () => { socket.destroy(); resolve(status); };
    socket.setTimeout(15_000, done);
    socket.on('data', (chunk) => {
      if (status) return;
      head += chunk.toString('latin1');
      const match = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (!match) return;
      status = Number(match[1]);
      if (status === 101 && after) {
        socket.write(after);
        setTimeout(done, 2000);
      } else if (status === 101) {
        done();
      }
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.write(request);
  });
}

export interface BadInputResult {
  sent: number; statuses: Map<number, number>; serverErrors: number; crashed: boolean;
  /** The seeds, unmutated, that the API refused: a fuzzer whose seeds are refused only tests the refusal. */
  refusedSeeds: string[];
}

/** An answer to an unmutated seed that shows it was understood (made, found, or already there). */
const understood = (status: number) => (status >= 200 && status < 300) || status === 101 || status === 404 || status === 409;

/** Where the API answers, and what changes when it crashes (a pid; on the real node, its pods' restarts). */
export interface ApiAddress { host: string; port: number }
export interface CrashProbe { signature(): Promise<string> }

/** The stack's own API process: its address from API_URL, a crash is another pid behind its port. */
export function localApi(settings: ClientSettings): ApiAddress & CrashProbe {
  const port = Number(new URL(settings.API_URL).port);
  return { host: '127.0.0.1', port, signature: async () => {
    try { return String(findNodeScript('api/src/main.ts', `PORT=${port}`)); } catch { return 'none'; }
  } };
}

export async function sendBadInput(settings: ClientSettings, total: number, seedBase: number, api: ApiAddress & CrashProbe = localApi(settings)): Promise<BadInputResult> {
  const kubeConfig = kubeConfigOf(settings);
  // No API key Secret here: a mutation that is still a valid task fails at once, with no pod.
  const namespace = `chaos-fuzz-${randomBytes(3).toString('hex')}`;
  await createNamespace(kubeConfig, namespace);
  const pool = new pg.Pool({ connectionString: settings.DATABASE_URL, max: 2 });
  const streamTask = 'fuzz-stream';
  try {
    await insertTask(pool, { uid: randomUUID(), namespace, name: streamTask, phase: 'Running' });
    const url = new URL(settings.API_URL);
    const signature = await api.signature();
    const tokens = await Promise.all(Array.from({ length: 40 }, (_unused, index) =>
      mintToken(settings, { subject: `fuzzer-${index}`, tenant: `fuzz-${index % 8}`, namespaces: [namespace], role: 'submitter' })));
    const all = seeds({ namespace, streamTask });
    const refusedSeeds: string[] = [];
    for (const seed of all) {
      const status = seed.part === 'frames'
        ? await exchange(api, upgradeRequest(seed.path, tokens[0]!, url.host))
        : await exchange(api, rawRequest(seed, tokens[0]!, url.host));
      if (!understood(status)) refusedSeeds.push(`${seed.method} ${seed.path} (${seed.part}): ${status}`);
    }
    const perSeed = Math.ceil(total / all.length);
    const requests: Array<{ bytes: Buffer; after?: Buffer }> = [];
    all.forEach((seed: Seed, seedIndex) => {
      const zzufSeed = seedBase + seedIndex;
      const token = (index: number) => tokens[(seedIndex * perSeed + index) % tokens.length]!;
      const variants = (part: Buffer) => zzufVariants(part, perSeed, zzufSeed, 0.004 + (seedIndex % 4) * 0.01);
      if (seed.part === 'body') {
        variants(Buffer.from(seed.body)).forEach((body, index) => requests.push({ bytes: rawRequest({ ...seed, body }, token(index), url.host) }));
      } else if (seed.part === 'path') {
        variants(Buffer.from(seed.path)).forEach((path, index) => requests.push({ bytes: rawRequest({ ...seed, path }, token(index), url.host) }));
      } else if (seed.part === 'header') {
        variants(Buffer.from(seed.header[1])).forEach((value, index) =>
          requests.push({ bytes: rawRequest({ ...seed, header: [seed.header[0], value] }, token(index), url.host) }));
      } else if (seed.part === 'request') {
        // The whole request, the token included: its bytes differ per caller, so one variant per token's request.
        const whole = rawRequest(seed, tokens[seedIndex % tokens.length]!, url.host);
        variants(whole).forEach((bytes) => requests.push({ bytes }));
      } else {
        const upgrade = (index: number) => upgradeRequest(seed.path, token(index), url.host);
        const frames = Buffer.concat([clientFrame(Buffer.from('{"type":"hello","seq":1}')), clientFrame(Buffer.from('x'.repeat(300)))]);
        variants(frames).forEach((after, index) => requests.push({ bytes: upgrade(index), after }));
      }
    });
    const statuses = new Map<number, number>();
    await inParallel(requests.slice(0, total), 16, async (request) => {
      const status = await exchange(api, request.bytes, request.after);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    });
    const alive = (await fetch(`${settings.API_URL}/healthz`).catch(() => undefined))?.ok === true;
    const unchanged = (await api.signature()) === signature;
    const serverErrors = [...statuses].filter(([status]) => status >= 500).reduce((sum, [, count]) => sum + count, 0);
    return { sent: Math.min(total, requests.length), statuses, serverErrors, crashed: !alive || !unchanged, refusedSeeds };
  } finally {
    await pool.end();
    await deleteNamespaces(kubeConfig, [namespace]).catch(() => undefined);
  }
}

const totalFor = (scale: Scale) => (scale === 'full' ? 10_000 : 1_100);

async function badInputRow(sending: Promise<BadInputResult>): Promise<FaultResult> {
  const result = await sending;
  const codes = [...result.statuses].sort(([a], [b]) => a - b).map(([status, count]) => `${status === 0 ? 'closed' : status}: ${count}`).join(', ');
  return {
    load: `${result.sent.toLocaleString('en-US')} mutated requests under 40 tokens`,
    lost: null, duplicated: null, disagreeing: null, recoverySeconds: null,
    detail: `5xx ${result.serverErrors}, crashed ${result.crashed ? 'yes' : 'no'}; ${codes}`
      + (result.refusedSeeds.length ? `; SEEDS REFUSED unmutated: ${result.refusedSeeds.join('; ')}` : '; every seed, unmutated, understood'),
    passed: result.serverErrors === 0 && !result.crashed && result.refusedSeeds.length === 0,
  };
}

export const badInputFault: Fault = {
  number: 8,
  name: 'Bad input at scale (zzuf)',
  run(system, scale: Scale): Promise<FaultResult> {
    return badInputRow(sendBadInput(system.settings, totalFor(scale), 20261202));
  },

  // Through the API's Service (both replicas); a crash is any restart of an API container.
  async runOnRealNode(system: RealNodeSystem, scale: Scale): Promise<FaultResult> {
    const url = new URL(system.settings.API_URL);
    return badInputRow(sendBadInput(system.settings, totalFor(scale), 20261202,
      { host: url.hostname, port: Number(url.port || 80), signature: () => system.crashSignature('api') }));
  },
};
