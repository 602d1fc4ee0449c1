// Configuration is parsed once at start from the environment, with zod; what is
// wrong is reported all at once, by variable name.
import type { z } from 'zod';

/** The process was configured wrongly: it should say so and stop. */
export class ConfigError extends Error {}

/** Each problem as `VARIABLE: what is wrong` (`(env)` for a rule across variables without a path). */
export function configProblems(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`);
}

/** The environment as `schema` parses it, or a ConfigError that names every bad variable, one a line. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv, what: string): z.output<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  throw new ConfigError(`invalid ${what}:\n  ${configProblems(parsed.error).join('\n  ')}`);
}
