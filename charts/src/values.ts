// The chart's values, as a zod model: the source of charts/claude-operator/values.schema.json
// (`node charts/src/write-values-schema.ts`), which helm checks on install, upgrade,
// template and lint, so a misspelt key or a value of the wrong type is refused
// with its path before anything is rendered. The defaults themselves live in
// values.yaml (with their comments); values.test.ts holds the two together.
import { z } from 'zod';

const quantity = z.union([z.string().regex(/^[0-9.]+[a-zA-Z]*$/), z.number()]);
const resources = z.strictObject({
  requests: z.record(z.string(), quantity).optional(),
  limits: z.record(z.string(), quantity).optional(),
}).describe('The container\'s resources, as in a pod spec.');
const logLevel = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);
const port = z.number().int().min(1).max(65_535);
/** --set passes "true" as a string in some helm versions' templates: both are accepted where the templates quote. */
const booleanString = z.union([z.boolean(), z.enum(['true', 'false'])]);

/** One of the Dockerfile's targets (operator, api, runner), each its own image. */
const image = z.strictObject({
  repository: z.string().min(1),
  tag: z.string().describe('Defaults to the chart\'s appVersion when empty.'),
});
const pullPolicy = z.enum(['Always', 'IfNotPresent', 'Never']);
const deployedImage = image.extend({ pullPolicy });

export const ChartValuesSchema = z.strictObject({
  nameOverride: z.string().max(63).optional().describe('The objects\' base name; the release\'s name by default.'),
  runner: z.strictObject({ image: image.describe('The task and session pods\' image (the Dockerfile\'s runner target); the operator puts it in their Jobs.') }),
  operator: z.strictObject({
    image: deployedImage.describe('The operator\'s image (the Dockerfile\'s operator target).'),
    replicas: z.number().int().min(1),
    databaseUrl: z.string(),
    databaseUrlSecret: z.strictObject({ name: z.string().min(1).optional(), key: z.string().min(1).optional() }),
    redisUrl: z.string(),
    runnerRedisUrl: z.string(),
    runnerRedisUsers: z.enum(['per-task', 'shared']),
    runnerRedisAclSecret: z.string(),
    anthropicBaseUrl: z.string(),
    httpsProxy: z.string(),
    noProxy: z.string(),
    defaultApiKeySecret: z.string().min(1),
    defaultTimeoutSeconds: z.number().int().min(1),
    defaultModel: z.string(),
    watchNamespace: z.string(),
    metricsPort: port,
    workers: z.number().int().min(1),
    kubeApiQps: z.number().min(1),
    kubeApiBurst: z.number().int().min(1),
    resyncSeconds: z.number().int().min(0),
    nodeOptions: z.string(),
    mallocArenaMax: z.number().int().min(1),
    logLevel,
    webhooks: z.strictObject({
      allowPrivateAddresses: booleanString,
      deliveryTimeoutSeconds: z.number().int().min(1),
      retryForSeconds: z.number().int().min(0),
      deleteGraceSeconds: z.number().int().min(0).max(3600),
      apiBaseUrl: z.string(),
    }),
    resources,
  }),
  postgres: z.strictObject({ enabled: z.boolean(), image: z.string(), storage: z.string(), resources }),
  redis: z.strictObject({ enabled: z.boolean(), image: z.string(), resources }),
  api: z.strictObject({
    enabled: z.boolean(),
    image: deployedImage.describe('The API\'s image (the Dockerfile\'s api target, with Chromium for report PDFs).'),
    replicas: z.number().int().min(1),
    jwt: z.strictObject({
      issuer: z.string().min(1),
      audience: z.string().min(1),
      jwksUrl: z.string(),
      hs256SecretName: z.string(),
      hs256SecretKey: z.string().min(1),
    }),
    impersonation: z.strictObject({
      enabled: z.boolean(),
      // Go's regexp (helm's) has no lookahead: `not` says it in the JSON schema, refine in the model.
      userPrefix: z.string().min(1).refine((prefix) => !prefix.startsWith('system:'), 'must not start with system:')
        .meta({ not: { pattern: '^system:' } }),
    }),
    corsAllowedOrigins: z.string(),
    logLevel,
    resources,
  }),
});

export type ChartValues = z.infer<typeof ChartValuesSchema>;

/** values.schema.json's text. */
export function valuesJsonSchema(): string {
  const schema = z.toJSONSchema(ChartValuesSchema, { target: 'draft-7', io: 'input' });
  return `${JSON.stringify(schema, null, 2)}\n`;
}
