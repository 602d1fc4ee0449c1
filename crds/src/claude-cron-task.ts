// The ClaudeCronTask resource: a ClaudeTask made on a schedule, shaped like
// batch/v1 CronJob. operator/src/cron-schedule.ts decides when; the cron
// controller makes the tasks.
import { z } from 'zod';
import { ClaudeTaskSpecSchema } from './claude-task.ts';

export const claudeCronTaskKind = 'ClaudeCronTask';
export const claudeCronTaskPlural = 'claudecrontasks';

export const concurrencyPolicies = ['Allow', 'Forbid', 'Replace'] as const;

const labelMap = z.record(z.string().max(317), z.string().max(63));

export const ClaudeCronTaskSpecSchema = z.object({
  schedule: z.string().min(1).max(256).describe('When to make a task, in cron syntax: 5 fields (minute hour day-of-month month day-of-week), or @hourly, @daily and the like.'),
  timeZone: z.string().min(1).max(64).optional().describe('The IANA time zone the schedule is read in, e.g. Europe/Berlin; UTC when empty.'),
  suspend: z.boolean().optional().describe('True: make no new tasks (running ones go on).'),
  startingDeadlineSeconds: z.number().int().min(1).max(7 * 24 * 3600).optional()
    .describe('A slot missed by more than this (the operator was down) is not run late; without it every missed slot counts until the most recent one.'),
  concurrencyPolicy: z.enum(concurrencyPolicies).optional()
    .describe('Allow (default): tasks may overlap. Forbid: skip a slot while a task still runs. Replace: cancel the running task and start the new one.'),
  successfulTasksHistoryLimit: z.number().int().min(0).max(100).optional().describe('Succeeded tasks kept (default 3); older ones are deleted, their records stay in Postgres.'),
  failedTasksHistoryLimit: z.number().int().min(0).max(100).optional().describe('Failed, cancelled and timed-out tasks kept (default 1).'),
  taskTemplate: z.object({
    metadata: z.object({
      labels: labelMap.optional().describe('Labels every task made carries, beside the operator\'s own.'),
      annotations: z.record(z.string().max(317), z.string().max(64 * 1024)).optional().describe('Annotations every task made carries.'),
    }).optional().describe('Labels and annotations of every task made.'),
    spec: ClaudeTaskSpecSchema.omit({ cancel: true }).describe('The spec of every task made (it may use templateRef).'),
  }).describe('The ClaudeTask to make at each slot.'),
}).describe('When to make tasks, what they are, and how many to keep.');

export const ClaudeCronTaskStatusSchema = z.object({
  active: z.array(z.object({
    name: z.string().max(253).describe('The task\'s name, in the cron task\'s namespace.'),
    uid: z.string().max(64).optional().describe('The task\'s metadata.uid.'),
  })).max(100).optional().describe('The tasks made that have not ended.'),
  activeCount: z.number().int().min(0).optional().describe('How many tasks in active (for kubectl\'s Active column).'),
  lastScheduleTime: z.string().optional().describe('The last slot a task was made for (RFC 3339).'),
  lastSuccessfulTime: z.string().optional().describe('When the last task made ended Succeeded (RFC 3339).'),
  lastSkippedTime: z.string().optional().describe('The last slot skipped because a task still ran (concurrencyPolicy Forbid).'),
  skipped: z.number().int().min(0).optional().describe('How many slots Forbid has skipped.'),
  observedGeneration: z.number().int().min(0).optional().describe('The metadata.generation the operator last acted on.'),
  message: z.string().max(1024).optional().describe('What went wrong last, e.g. a schedule that does not parse.'),
}).describe('What the operator made; written only by the operator.');

export type ClaudeCronTaskSpec = z.infer<typeof ClaudeCronTaskSpecSchema>;
export type ClaudeCronTaskStatus = z.infer<typeof ClaudeCronTaskStatusSchema>;

export interface ClaudeCronTask {
  apiVersion?: string;
  kind?: typeof claudeCronTaskKind;
  metadata: {
    name?: string; namespace?: string; uid?: string; generation?: number; resourceVersion?: string;
    creationTimestamp?: string | Date; deletionTimestamp?: string | Date; labels?: Record<string, string>;
  };
  spec: ClaudeCronTaskSpec;
  status?: ClaudeCronTaskStatus;
}
