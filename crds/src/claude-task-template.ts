// The ClaudeTaskTemplate resource: a reviewed task skeleton with declared
// parameters. A task names it in spec.templateRef and gives the parameters'
// values in spec.variables; template-resolution.ts turns the two into the spec
// the task runs, once.
import { z } from 'zod';
import { ClaudeTaskSpecSchema } from './claude-task.ts';

export const claudeTaskTemplateKind = 'ClaudeTaskTemplate';
export const claudeTaskTemplatePlural = 'claudetasktemplates';

/** A parameter's name, as {{name}} in a prompt may use it (runner/src/prompt-template.ts). */
export const parameterNamePattern = '^[A-Za-z0-9_.-]+$';

export const TemplateParameterSchema = z.object({
  name: z.string().min(1).max(253).regex(new RegExp(parameterNamePattern), 'must be letters, digits, _, - or .')
    .describe('The variable it fills: {{name}} in the prompt.'),
  description: z.string().max(1024).optional().describe('What the value is, for people.'),
  required: z.boolean().optional().describe('A task must give a value (unless there is a default).'),
  default: z.string().max(32 * 1024).optional().describe('The value when a task gives none.'),
  pattern: z.string().max(1024).optional().describe('A regular expression the whole value must match.'),
}).describe('One declared parameter of the template.');

export const ClaudeTaskTemplateSpecSchema = ClaudeTaskSpecSchema
  .omit({ templateRef: true, variables: true, cancel: true })
  .partial()
  .extend({
    description: z.string().max(4096).optional().describe('What tasks made from this template do, for people.'),
    parameters: z.array(TemplateParameterSchema).max(64).optional()
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })
      .describe('The variables a task may (or must) give.'),
  })
  .describe('The fields of a ClaudeTask spec every task made from it starts with, and its parameters.');

export const ClaudeTaskTemplateStatusSchema = z.object({})
  .describe('Templates have no status yet; the field exists so the status subresource does.');

export type ClaudeTaskTemplateSpec = z.infer<typeof ClaudeTaskTemplateSpecSchema>;
export type TemplateParameter = z.infer<typeof TemplateParameterSchema>;

export interface ClaudeTaskTemplate {
  apiVersion?: string;
  kind?: typeof claudeTaskTemplateKind;
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; creationTimestamp?: string | Date; labels?: Record<string, string> };
  spec: ClaudeTaskTemplateSpec;
}

