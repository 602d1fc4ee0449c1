// What the template routes take and give (validation and the OpenAPI document).
import { z } from 'zod';
import { ClaudeTaskTemplateSpecSchema } from '../../../crds/src/claude-task-template.ts';
import { ClaudeTaskSpecSchema } from '../../../crds/src/claude-task.ts';
import { CreateTaskBodySchema, ObjectMetadataSchema } from '../tasks/schemas.ts';

export const TemplateSchema = z.object({
  apiVersion: z.string(),
  kind: z.literal('ClaudeTaskTemplate'),
  metadata: ObjectMetadataSchema,
  spec: ClaudeTaskTemplateSpecSchema,
}).describe('A ClaudeTaskTemplate as Kubernetes holds it.');

export const TemplateListSchema = z.object({ items: z.array(TemplateSchema) });

export const CreateTaskFromTemplateBodySchema = CreateTaskBodySchema.omit({ spec: true }).extend({
  variables: ClaudeTaskSpecSchema.shape.variables.describe('The values of the template\'s parameters.'),
}).strict().describe('A task made from the template: its parameters\' values, and optionally the task\'s name and labels.');
