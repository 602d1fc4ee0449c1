// Errors as RFC 9457 problem details (application/problem+json), each kind with
// a stable `type` URI clients may switch on. This is the one list of problem
// types: REST answers and refused WebSocket upgrades (stream/upgrade-reply.ts)
// both come from it, and api/README.md documents it (a test checks that).
// Everything a route throws passes through problemOf, so bad input maps to a
// 4xx and only our own faults are 5xx.
import { z } from 'zod';
import { AuthenticationError } from '../auth/caller.ts';
import { KeySourceUnavailableError } from '../auth/jwt.ts';

export const problemTypeBase = 'https://claude-operator.io/problems/';

export const problemKinds = {
  'bad-request': { status: 400, title: 'Bad request' },
  'validation-error': { status: 400, title: 'The request is not valid' },
  unauthorized: { status: 401, title: 'Authentication required' },
  forbidden: { status: 403, title: 'Not allowed for this role' },
  'not-found': { status: 404, title: 'Not found' },
  conflict: { status: 409, title: 'Conflict' },
  'idempotency-key-in-use': { status: 409, title: 'A request with this Idempotency-Key is in progress' },
  gone: { status: 410, title: 'Gone' },
  'payload-too-large': { status: 413, title: 'Request body too large' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  invalid: { status: 422, title: 'Rejected by the Kubernetes API' },
  'refused-by-cluster': { status: 403, title: 'Refused by the Kubernetes API (an admission policy or RBAC)' },
  'idempotency-key-reused': { status: 422, title: 'Idempotency-Key used for another request' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  'internal-error': { status: 500, title: 'Internal error' },
  unavailable: { status: 503, title: 'A dependency is unavailable' },
  'not-implemented': { status: 501, title: 'Not implemented' },
} as const;

export type ProblemKind = keyof typeof problemKinds;

export interface ValidationIssue {
  path: string;
  message: string;
  code?: string;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  issues?: ValidationIssue[];
  requestId?: string;
}

export class Problem extends Error {
  readonly kind: ProblemKind;
  readonly detail: string | undefined;
  readonly issues: ValidationIssue[] | undefined;
  readonly headers: Record<string, string>;

  constructor(kind: ProblemKind, detail?: string, extra: { issues?: ValidationIssue[]; headers?: Record<string, string>; cause?: unknown } = {}) {
    super(detail ?? problemKinds[kind].title, { cause: extra.cause });
    this.kind = kind;
    this.detail = detail;
    this.issues = extra.issues;
    this.headers = extra.headers ?? {};
  }

  get status(): number {
    return problemKinds[this.kind].status;
  }

  body(instance?: string, requestId?: string): ProblemBody {
    const { title, status } = problemKinds[this.kind];
    return {
      type: `${problemTypeBase}${this.kind}`, title, status,
      ...(this.detail ? { detail: this.detail } : {}),
      ...(instance ? { instance } : {}),
      ...(this.issues ? { issues: this.issues } : {}),
      ...(requestId ? { requestId } : {}),
    };
  }
}

export function issuesOf(error: z.ZodError, prefix: (string | number)[] = []): ValidationIssue[] {
  return error.issues.slice(0, 100).map((issue) => ({
    path: [...prefix, ...issue.path.map(String)].join('.') || '(root)',
    message: issue.message,
    code: issue.code,
  }));
}

/** Parses with the schema, or throws a 400 validation problem listing every issue. */
export function parseOr400<S extends z.ZodType>(schema: S, value: unknown, what: string, prefix: (string | number)[] = []): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new Problem('validation-error', `${what} is not valid`, { issues: issuesOf(parsed.error, prefix) });
}

/** The problem an error stands for. Unknown errors are 500 (and logged by the caller). */
export function problemOf(error: unknown): Problem {
  if (error instanceof Problem) return error;
  if (error instanceof AuthenticationError) return new Problem('unauthorized', error.message, { headers: { 'WWW-Authenticate': 'Bearer' } });
  if (error instanceof KeySourceUnavailableError) return new Problem('unavailable', 'the token keys cannot be fetched now');
  const kube = kubeProblem(error);
  if (kube) return kube;
  const http = httpErrorProblem(error);
  if (http) return http;
  if (isUnreachable(error)) return new Problem('unavailable', 'Postgres or Redis cannot be reached now; try again later', { headers: { 'Retry-After': '5' }, cause: error });
  return new Problem('internal-error', undefined, { cause: error });
}

/** Network failures, a Postgres shutting down or not accepting connections, pg and ioredis giving up on a connection. */
const unreachableCodes: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', '57P01', '57P03',
]);
const unreachableMessages = /^(Connection terminated|timeout exceeded when trying to connect|Connection is closed|Reached the max retries per request)/i;

function isUnreachable(error: unknown): boolean {
  const candidate = error as { code?: unknown; message?: unknown } | null;
  if (!candidate || typeof candidate !== 'object') return false;
  return (typeof candidate.code === 'string' && unreachableCodes.has(candidate.code))
    || (typeof candidate.message === 'string' && unreachableMessages.test(candidate.message));
}

/** Body-parser and router errors (http-errors): their status and `type`. */
function httpErrorProblem(error: unknown): Problem | undefined {
  const candidate = error as { status?: unknown; statusCode?: unknown; type?: unknown; expose?: unknown; message?: unknown };
  if (!candidate || typeof candidate !== 'object') return undefined;
  const status = typeof candidate.status === 'number' ? candidate.status : candidate.statusCode;
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  const message = candidate.expose === true && typeof candidate.message === 'string' ? candidate.message : undefined;
  switch (candidate.type) {
    case 'entity.too.large': return new Problem('payload-too-large', message);
    case 'entity.parse.failed': return new Problem('bad-request', 'the body is not valid JSON');
    case 'encoding.unsupported':
    case 'charset.unsupported': return new Problem('unsupported-media-type', message);
    default:
      if (status === 413) return new Problem('payload-too-large', message);
      if (status === 415) return new Problem('unsupported-media-type', message);
      if (status === 404) return new Problem('not-found');
      return new Problem('bad-request', message);
  }
}

/**
 * A Kubernetes API error (client-node ApiException: `code` and `body`) as the
 * caller should see it: AlreadyExists 409, Invalid 422 with the apiserver's
 * message, Forbidden 403 with it (a ClaudePolicy's admission rule names itself there; RBAC refusing an impersonated caller), NotFound 404; 410 (an expired continue token); others are ours (502-ish: 503).
 */
export function kubeProblem(error: unknown): Problem | undefined {
  const candidate = error as { code?: unknown; body?: unknown };
  if (!candidate || typeof candidate !== 'object' || typeof candidate.code !== 'number' || !('body' in candidate)) return undefined;
  const status = kubeStatusOf(candidate.body);
  const message = status?.message;
  switch (candidate.code) {
    case 404: return new Problem('not-found');
    case 409: return new Problem('conflict', message ?? 'the resource already exists or was changed concurrently');
    case 410: return new Problem('gone', 'the list cursor has expired; start the listing again');
    case 422: return new Problem('invalid', message, { issues: status?.causes });
    // The API's own account not allowed to impersonate (the chart's api.impersonation off while the API has it on) is our fault, not the caller's.
    case 403: return /cannot impersonate/.test(message ?? '')
      ? new Problem('internal-error', undefined, { cause: error })
      : new Problem('refused-by-cluster', message);
    case 400: return new Problem('bad-request', message);
    case 429: return new Problem('unavailable', 'the Kubernetes API is throttling requests', { headers: { 'Retry-After': '1' } });
    default: return new Problem('unavailable', 'the Kubernetes API failed', { cause: error });
  }
}

interface KubeStatus { message?: string; causes?: ValidationIssue[] }

function kubeStatusOf(body: unknown): KubeStatus | undefined {
  let value: unknown = body;
  if (typeof body === 'string') {
    try { value = JSON.parse(body); } catch { return { message: body.slice(0, 2048) }; }
  }
  if (!value || typeof value !== 'object') return undefined;
  const status = value as { message?: unknown; details?: { causes?: Array<{ field?: unknown; message?: unknown; reason?: unknown }> } };
  const causes = Array.isArray(status.details?.causes)
    ? status.details.causes.map((cause) => ({ path: String(cause.field ?? ''), message: String(cause.message ?? ''), code: String(cause.reason ?? '') }))
    : undefined;
  return { message: typeof status.message === 'string' ? status.message : undefined, causes };
}
