// How a task made from a ClaudeTaskTemplate gets the spec it runs. Pure: the
// operator resolves on a task's first pass and records the result in status;
// the API checks a request with the same function before it creates the task.
import type { ClaudeTaskSpec, ResolvedTaskSpec } from './claude-task.ts';
import type { ClaudeTaskTemplateSpec } from './claude-task-template.ts';

export type TemplateResolution =
  | { ok: true; spec: ResolvedTaskSpec }
  | { ok: false; reason: 'TemplateParameterMissing' | 'TemplateParameterInvalid' | 'TemplateParameterUnknown' | 'TemplateHasNoPrompt'; message: string };

/**
 * The template's fields, with the task's own over them (field by field, as an
 * overlay); variables are the parameters' values: the task's, else the default.
 * Every problem is named, so one error message says all that is wrong.
 */
export function resolveTemplate(templateName: string, template: ClaudeTaskTemplateSpec, task: ClaudeTaskSpec): TemplateResolution {
  const { description: _description, parameters = [], ...skeleton } = template;
  const { templateRef: _ref, cancel: _cancel, variables: given = {}, ...own } = task;
  const declared = new Set(parameters.map((parameter) => parameter.name));
  const unknown = Object.keys(given).filter((name) => !declared.has(name));
  if (unknown.length > 0) {
    return fail('TemplateParameterUnknown', `template ${templateName} has no parameter ${quoted(unknown)} (it declares ${declared.size ? quoted([...declared]) : 'none'})`);
  }
  const variables: Record<string, string> = {};
  const missing: string[] = [];
  const invalid: string[] = [];
  for (const parameter of parameters) {
    const value = Object.hasOwn(given, parameter.name) ? given[parameter.name] : parameter.default;
    if (value === undefined) {
      if (parameter.required) missing.push(parameter.name);
      continue;
    }
    if (parameter.pattern !== undefined && !fullMatch(parameter.pattern, value)) invalid.push(`${parameter.name} must match ${parameter.pattern}`);
    variables[parameter.name] = value;
  }
  if (missing.length > 0) {
    return fail('TemplateParameterMissing', `template ${templateName} requires parameter ${quoted(missing)}: set it in spec.variables`);
  }
  if (invalid.length > 0) return fail('TemplateParameterInvalid', `template ${templateName}: ${invalid.join('; ')}`);
  const prompt = own.prompt ?? skeleton.prompt;
  if (prompt === undefined) return fail('TemplateHasNoPrompt', `template ${templateName} has no prompt and the task gives none`);
  return { ok: true, spec: { ...skeleton, ...own, prompt, ...(Object.keys(variables).length ? { variables } : {}) } };
}

function fail(reason: Exclude<TemplateResolution, { ok: true }>['reason'], message: string): TemplateResolution {
  return { ok: false, reason, message };
}

function quoted(names: string[]): string {
  return names.map((name) => `"${name}"`).join(', ');
}

/** The pattern must match the whole value; one that does not compile matches nothing. */
function fullMatch(pattern: string, value: string): boolean {
  try {
    return new RegExp(`^(?:${pattern})$`, 'u').test(value);
  } catch {
    return false;
  }
}
