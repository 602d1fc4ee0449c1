// {{name}} in the prompt is replaced by variables[name]. Pure, so the API can
// check a spec with the same function before it creates the task.
import { ConfigError } from './errors.ts';

/** Names: letters, digits, _, -, and . ; spaces inside the braces are allowed. */
const placeholder = /\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g;

export function referencedVariables(template: string): string[] {
  return [...new Set([...template.matchAll(placeholder)].map((match) => match[1]!))];
}

/** Throws ConfigError naming every variable that is referenced but not given. */
export function renderPrompt(template: string, variables: Readonly<Record<string, string>> = {}): string {
  const missing = referencedVariables(template).filter((name) => !Object.hasOwn(variables, name));
  if (missing.length > 0) {
    const list = missing.map((name) => `{{${name}}}`).join(', ');
    throw new ConfigError(`the prompt references ${list} but spec.variables does not define ${missing.length === 1 ? 'it' : 'them'}`);
  }
  // One pass: a value that itself contains {{x}} is left as it is.
  return template.replace(placeholder, (_match, name: string) => variables[name]!);
}
