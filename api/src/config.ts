// The API server's configuration: parsed once at start from the environment,
// with an error that names every bad variable. The Kubernetes connection comes
// from KubeConfig.loadFromDefault (KUBECONFIG, ~/.kube/config or in-cluster).
import { z } from 'zod';
import { parseEnv } from '../../packages/platform/src/config.ts';
import { isOrigin } from './http/cors.ts';

const bool = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');

const originList = z.string().default('')
  .transform((text) => text.split(',').map((origin) => origin.trim()).filter((origin) => origin !== ''))
  .pipe(z.array(z.string().refine(isOrigin, 'must be an origin such as https://app.example.com (scheme, host, optional port; no path or slash)')));

export const ApiConfigSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Listen address; every interface by default. */
  HOST: z.string().min(1).default('0.0.0.0'),
  DATABASE_URL: z.string().min(1),
  REDIS_URL: z.string().min(1),
  /** Shared secret for HS256 tokens (at least 32 bytes); or JWT_JWKS_URL. */
  JWT_HS256_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** JWKS of an OIDC provider (RS256/ES256 tokens); or JWT_HS256_SECRET. */
  JWT_JWKS_URL: z.url().optional(),
  JWT_ISSUER: z.string().min(1),
  JWT_AUDIENCE: z.string().min(1),
  JWT_CLOCK_TOLERANCE_SECONDS: z.coerce.number().int().min(0).max(300).default(5),
  JWT_TENANT_CLAIM: z.string().min(1).default('tenant'),
  JWT_NAMESPACES_CLAIM: z.string().min(1).default('namespaces'),
  JWT_ROLE_CLAIM: z.string().min(1).default('role'),
  /** Requests per caller (tenant and subject) per window, across every replica. */
  RATE_LIMIT_REQUESTS: z.coerce.number().int().min(1).default(600),
  RATE_LIMIT_WINDOW_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  /** Larger request bodies get 413. Three maximal prompts do not fit on purpose. */
  BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).max(1024 * 1024).default(256 * 1024),
  /** The longest ?wait= a create may ask for. */
  MAX_WAIT_SECONDS: z.coerce.number().int().min(0).max(3600).default(300),
  /** How long POST …/sessions/{name}/messages waits for the answer before it answers 202 with the message's Location. */
  MESSAGE_WAIT_SECONDS: z.coerce.number().int().min(0).max(3600).default(600),
  /** A waiting create is woken by the task's events; besides that it reads the task's phase this often (and a waiting message its state). */
  WAIT_RECHECK_SECONDS: z.coerce.number().int().min(1).max(3600).default(10),
  /** Browser origins allowed to call the API (CORS), comma-separated; none (CORS off) by default. */
  CORS_ALLOWED_ORIGINS: originList,
  /** How long a browser may keep a preflight answer. */
  CORS_MAX_AGE_SECONDS: z.coerce.number().int().min(0).max(86400).default(600),
  /** Behind a load balancer: trust X-Forwarded-For for the client address in logs. */
  TRUST_PROXY: bool.default(false),
  /** The headless Chromium that prints report PDFs (Debian's chromium package); absent: ?format=pdf is 501. */
  REPORT_CHROMIUM_PATH: z.string().min(1).default('chromium'),
  /** The longest one PDF may take to print. */
  REPORT_PDF_TIMEOUT_SECONDS: z.coerce.number().int().min(5).max(600).default(120),
  /** PDFs printed at once by this replica; more get 429 (each is a browser process). */
  REPORT_PDF_CONCURRENCY: z.coerce.number().int().min(1).max(16).default(2),
  /**
   * on: the API writes tasks and sessions as the JWT's subject (Impersonate-User
   * <prefix><sub>, Impersonate-Group <prefix>tenant:<tenant>), so RBAC, admission
   * and the audit log see the real user; off: as its own service account.
   */
  API_IMPERSONATION: z.enum(['off', 'on']).default('off'),
  /** Put before every impersonated user and group, like the apiserver's --oidc-username-prefix: a `sub` can never name a real user such as system:admin. */
  API_IMPERSONATION_USER_PREFIX: z.string().default('claude-api:')
    .refine((prefix) => prefix !== '', 'must not be empty (a token\'s sub would then name any user of the cluster)')
    .refine((prefix) => !prefix.startsWith('system:'), 'must not start with system: (reserved for the cluster\'s own users and groups)'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
}).refine((config) => Boolean(config.JWT_HS256_SECRET) !== Boolean(config.JWT_JWKS_URL), {
  message: 'set exactly one of JWT_HS256_SECRET and JWT_JWKS_URL',
  path: ['JWT_HS256_SECRET'],
});

export type ApiConfig = z.infer<typeof ApiConfigSchema>;

export function parseApiConfig(env: NodeJS.ProcessEnv): ApiConfig {
  return parseEnv(ApiConfigSchema, env, 'API configuration');
}
