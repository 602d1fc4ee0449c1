// The operator's configuration: parsed once at start from the environment, with
// an error that names every bad variable.
import { z } from 'zod';
import { parseEnv } from '../../packages/platform/src/config.ts';

const optionalUrl = z.string().url().optional();

export const OperatorConfigSchema = z.object({
  /** The runner image each task's pod runs. */
  RUNNER_IMAGE: z.string().min(1).default('ghcr.io/claude-operator/runner:latest'),
  /** The Secret (in the task's namespace) holding the API key when a task names none. */
  DEFAULT_API_KEY_SECRET: z.string().min(1).default('anthropic-api-key'),
  DEFAULT_API_KEY_SECRET_KEY: z.string().min(1).default('api-key'),
  DEFAULT_TIMEOUT_SECONDS: z.coerce.number().int().min(1).default(3600),
  /** The model of a task whose spec names none; the CLI's own default when unset. */
  DEFAULT_MODEL: z.string().min(1).max(256).optional(),
  /** Where the operator reads the runners' events from. */
  REDIS_URL: z.string().min(1),
  /** The same Redis as the pods reach it; REDIS_URL when empty. */
  RUNNER_REDIS_URL: z.string().min(1).optional(),
  /** per-task: each runner gets a Redis user of its own that can touch only its task's
   * keys (the operator's REDIS_URL user needs ACL rights); shared: runners use RUNNER_REDIS_URL as it is. */
  RUNNER_REDIS_USERS: z.enum(['per-task', 'shared']).default('per-task'),
  /** The key the per-task passwords are derived from (HMAC of the task uid); at least 32 characters. */
  RUNNER_REDIS_ACL_SECRET: z.string().min(32).optional(),
  /** Passed through to the runner, so gateways (and the scripted API in tests) work. */
  ANTHROPIC_BASE_URL: optionalUrl,
  HTTPS_PROXY: z.string().optional(),
  HTTP_PROXY: z.string().optional(),
  NO_PROXY: z.string().optional(),
  DATABASE_URL: z.string().min(1),
  /** A task's event stream is trimmed to about this many entries, but only of what is already in Postgres. */
  EVENT_STREAM_MAX_LENGTH: z.coerce.number().int().min(100).default(10_000),
  /** Empty: every namespace. */
  WATCH_NAMESPACE: z.string().optional(),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9090),
  /** The tokens and cost metrics reread the usage ledger at most this often (scrapes in between get the last read). */
  METRICS_LEDGER_MAX_AGE_SECONDS: z.coerce.number().min(0).max(3600).default(10),
  /** A scrape waits this long for the ledger before it gets the last read (Postgres also stops the query at twice this). */
  METRICS_LEDGER_TIMEOUT_SECONDS: z.coerce.number().min(0.1).max(60).default(3),
  /** Reconciles at once. Each is a few apiserver calls and a Postgres write; reads come from the informers' caches. */
  OPERATOR_WORKERS: z.coerce.number().int().min(1).max(64).default(16),
  /** How often every cached object is reconciled again though nothing changed (controller-runtime's SyncPeriod). */
  OPERATOR_RESYNC_SECONDS: z.coerce.number().int().min(10).default(300),
  /** Client-side limit on apiserver requests per second (a token bucket), and the burst above it. */
  KUBE_API_QPS: z.coerce.number().min(1).default(50),
  KUBE_API_BURST: z.coerce.number().int().min(1).default(100),
  /** true: completion webhooks may call loopback, private, link-local and cluster-internal addresses (link-local IP
   * literals are refused by the CRD itself). Only for clusters whose receivers are internal. */
  WEBHOOK_ALLOW_PRIVATE_ADDRESSES: z.enum(['true', 'false']).default('false').transform((value) => value === 'true'),
  /** How long one webhook delivery may take, connect to the end of the answer. */
  WEBHOOK_DELIVERY_TIMEOUT_SECONDS: z.coerce.number().min(1).max(300).default(10),
  /** The wait after a webhook's first failed attempt; it doubles with each further one, up to the maximum. */
  WEBHOOK_RETRY_INITIAL_SECONDS: z.coerce.number().min(0.1).default(5),
  WEBHOOK_RETRY_MAX_SECONDS: z.coerce.number().min(1).default(600),
  /** No attempt starts later than this after the first: then the delivery is Failed. */
  WEBHOOK_RETRY_FOR_SECONDS: z.coerce.number().min(0).default(24 * 3600),
  /** A deleted task's deliveries still pending are tried for this long after the delete, then given up, so
   * `kubectl delete` (and a namespace's deletion) never waits on a receiver for longer. */
  WEBHOOK_DELETE_GRACE_SECONDS: z.coerce.number().min(0).max(3600).default(60),
  /** The REST API's root as receivers reach it (e.g. https://claude.example.com/api/v1), for the event's links. */
  API_BASE_URL: optionalUrl,
}).refine((config) => config.RUNNER_REDIS_USERS === 'shared' || config.RUNNER_REDIS_ACL_SECRET !== undefined, {
  path: ['RUNNER_REDIS_ACL_SECRET'],
  message: 'is required with RUNNER_REDIS_USERS=per-task (the default): at least 32 random characters, e.g. openssl rand -hex 32',
});

export type OperatorConfig = z.infer<typeof OperatorConfigSchema> & { RUNNER_REDIS_URL: string };

export function parseOperatorConfig(env: NodeJS.ProcessEnv): OperatorConfig {
  const parsed = parseEnv(OperatorConfigSchema, env, 'operator configuration');
  return { ...parsed, RUNNER_REDIS_URL: parsed.RUNNER_REDIS_URL ?? parsed.REDIS_URL };
}
