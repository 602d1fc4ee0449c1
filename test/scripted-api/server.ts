// The scripted Anthropic Messages API: an HTTP server on loopback that answers
// POST /v1/messages from the scenario named in the conversation (scenarios.ts), and
// records every request so tests can assert on what the CLI sent.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { attemptKey, isSideRequest } from './conversation.ts';
import { errorBody, type MessagesRequest } from './messages-api.ts';
import { estimateTokens, formatSse, renderEvents, renderMessage } from './render.ts';
import { errorPlan, keyRateLimitPlan, planResponse, scenarioOf, type ErrorPlan, type MessagePlan } from './scenarios.ts';

export interface ScriptedApiOptions {
  /** 0 or absent: a free port. */
  port?: number;
  host?: string;
  /** When set, requests with another x-api-key (or Authorization: Bearer) get a 401;
   * a list accepts each of its keys (for tests of two API-key Secrets). */
  apiKey?: string | string[];
}

export interface RecordedRequest {
  method: string;
  /** With the query string, e.g. /v1/messages?beta=true. */
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body; undefined for an empty or unparsable body. */
  body: MessagesRequest | undefined;
  /** The scenario that answered (the directive's name, `answer` without one), or: `side`
   * (a request without tools), `bad-key`, `key-rate-limited` (see rateLimitKey), `invalid` (unparsable body), `count-tokens`,
   * `hello` (the CLI's connectivity check), `not-found`. */
  scenario: string;
  status: number;
  /** Epoch milliseconds when the request arrived. */
  time: number;
}

export interface ScriptedApi {
  /** Base URL for ANTHROPIC_BASE_URL, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  /** Every request so far, oldest first; the array keeps growing. */
  requests: RecordedRequest[];
  /** From now until `resetAt`, every POST /v1/messages with this key gets a 429
   * rate_limit_error with `retry-after` (whole seconds left, at least 1) and
   * `anthropic-ratelimit-requests-reset` (RFC 3339), whatever the scenario, as the
   * real API answers a key whose request limit is spent; other keys answer normally.
   * Calling it again replaces the key's reset time; a past `resetAt` lifts the limit. */
  rateLimitKey(apiKey: string, resetAt: Date): void;
  /** Idempotent; ends open streams. */
  close(): Promise<void>;
}

const gunzip = promisify(zlib.gunzip);
const brotli = promisify(zlib.brotliDecompress);
const inflate = promisify(zlib.inflate);

export async function startScriptedApi(options: ScriptedApiOptions = {}): Promise<ScriptedApi> {
  const host = options.host ?? '127.0.0.1';
  const requests: RecordedRequest[] = [];
  const attempts = new Map<string, number>();
  const acceptedKeys = options.apiKey === undefined ? undefined : [options.apiKey].flat();
  const keyResets = new Map<string, number>();
  let messageCount = 0;

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, errorBody('api_error', `scripted API bug: ${(error as Error).message}`));
      else res.destroy();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const time = Date.now();
    const rawPath = req.url ?? '/';
    const pathname = new URL(rawPath, 'http://scripted').pathname;
    const record = (body: MessagesRequest | undefined, scenario: string, status: number): void => {
      requests.push({ method: req.method ?? '', path: rawPath, headers: req.headers, body, scenario, status, time });
    };

    const raw = await readBody(req);
    let body: MessagesRequest | undefined;
    let bodyError: string | undefined;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8')) as MessagesRequest;
      } catch (error) {
        bodyError = `body is not JSON: ${(error as Error).message}`;
      }
    }

    const route = `${req.method} ${pathname}`;
    if (route === 'HEAD /api/hello' || route === 'GET /api/hello') {
      // The CLI's connectivity check, sent when CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC is not set.
      record(body, 'hello', 200);
      sendJson(res, 200, {});
      return;
    }
    if (route !== 'POST /v1/messages' && route !== 'POST /v1/messages/count_tokens') {
      record(body, 'not-found', 404);
      sendJson(res, 404, errorBody('not_found_error', `scripted API has no ${route}`));
      return;
    }
    const key = presentedKey(req.headers);
    if (acceptedKeys !== undefined && (key === undefined || !acceptedKeys.includes(key))) {
      record(body, 'bad-key', 401);
      sendJson(res, 401, errorBody('authentication_error', 'invalid x-api-key'));
      return;
    }
    const resetAt = key === undefined ? undefined : keyResets.get(key);
    if (pathname === '/v1/messages' && resetAt !== undefined && resetAt > time) {
      const plan = keyRateLimitPlan(resetAt, time);
      record(body, 'key-rate-limited', plan.status);
      sendJson(res, plan.status, plan.body, plan.headers);
      return;
    }
    if (body === undefined || bodyError !== undefined) {
      record(body, 'invalid', 400);
      sendJson(res, 400, errorBody('invalid_request_error', bodyError ?? 'empty body'));
      return;
    }
    if (pathname === '/v1/messages/count_tokens') {
      record(body, 'count-tokens', 200);
      sendJson(res, 200, { input_tokens: estimateTokens(body) });
      return;
    }

    let priorAttempts = 0;
    if (!isSideRequest(body)) {
      const attempt = attemptKey(body, headerValue(req.headers['x-claude-code-session-id']));
      priorAttempts = attempts.get(attempt) ?? 0;
      attempts.set(attempt, priorAttempts + 1);
    }
    let plan: MessagePlan | ErrorPlan;
    try {
      plan = planResponse(body, { priorAttempts });
    } catch (error) {
      plan = errorPlan(400, 'invalid_request_error', `cannot plan an answer: ${(error as Error).message}`);
    }
    const scenario = scenarioOf(body);
    if (plan.kind === 'error') {
      record(body, scenario, plan.status);
      sendJson(res, plan.status, plan.body, plan.headers);
      return;
    }
    record(body, scenario, 200);
    messageCount += 1;
    const id = `msg_scripted_${String(messageCount).padStart(4, '0')}`;
    const model = typeof body.model === 'string' ? body.model : 'claude-scripted';
    if (body.stream === true) await stream(res, plan, id, model);
    else sendJson(res, 200, renderMessage(plan, id, model), { 'request-id': `req_${id}` });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    requests,
    rateLimitKey(apiKey, resetAt) {
      keyResets.set(apiKey, resetAt.getTime());
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Slow streams and keep-alive sockets would hold close() open.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function stream(res: http.ServerResponse, plan: MessagePlan, id: string, model: string): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': `req_${id}` });
  for (const event of renderEvents(plan, id, model)) {
    if (res.destroyed) return; // the client hung up (e.g. killed mid-stream)
    if (plan.delayMs > 0 && event.event === 'content_block_delta') await sleep(plan.delayMs);
    res.write(formatSse(event));
  }
  res.end();
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  // The CLI can compress request bodies (CLAUDE_CODE_GZIP_REQUEST_BODIES).
  switch (headerValue(req.headers['content-encoding'])) {
    case 'gzip':
      return gunzip(raw);
    case 'br':
      return brotli(raw);
    case 'deflate':
      return inflate(raw);
    default:
      return raw;
  }
}

function presentedKey(headers: http.IncomingHttpHeaders): string | undefined {
  const apiKey = headerValue(headers['x-api-key']);
  if (apiKey !== undefined) return apiKey;
  const authorization = headerValue(headers.authorization);
  return authorization?.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : undefined;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
