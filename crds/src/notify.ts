// spec.notify and status.notifications of a ClaudeTask: the completion webhooks
// a run calls when it ends, and how their delivery went. The operator's
// notifications controller delivers them (operator/src/notifications/).
import { z } from 'zod';

/** The phases a webhook can be called for: every terminal phase. */
export const notifiablePhases = ['Succeeded', 'Failed', 'Cancelled', 'TimedOut'] as const;

/** CloudEvents `type` of the event sent when a task ends. */
export const taskFinishedEventType = 'io.claude-operator.task.finished';

export const WebhookSchema = z.object({
  url: z.string().min(1).max(2048)
    .describe('Where the CloudEvent is POSTed: an http:// or https:// URL. Cluster-internal and private addresses are refused unless the operator allows them (WEBHOOK_ALLOW_PRIVATE_ADDRESSES); link-local IP addresses always are.'),
  secretRef: z.object({
    name: z.string().min(1).max(253).describe('A Secret in the task\'s namespace.'),
    key: z.string().min(1).max(253).describe('Its key whose bytes are the HMAC-SHA256 key.'),
  }).optional().describe('Signs each delivery (webhook-signature header, as Standard Webhooks: HMAC-SHA256 over id.timestamp.body).'),
  events: z.array(z.enum(notifiablePhases)).min(1).max(notifiablePhases.length).optional()
    .describe('The phases to be called for; every terminal phase when empty.'),
}).describe('A URL called once when the task ends in one of `events`.');

export const NotifySchema = z.object({
  webhooks: z.array(WebhookSchema).min(1).max(8).describe('Each is called on its own, at least once, with retries.'),
}).describe('Who is told when the task ends.');

export const notificationStates = ['Pending', 'Delivered', 'Failed'] as const;

export const NotificationStatusSchema = z.object({
  url: z.string().max(2048).describe('The webhook\'s URL without credentials or query.'),
  event: z.string().max(256).describe('The CloudEvent id (stable per task and phase).'),
  state: z.enum(notificationStates).describe('Pending (being tried), Delivered (a 2xx answer) or Failed (given up).'),
  attempts: z.number().int().min(0).describe('Attempts so far; each is recorded in Postgres.'),
  lastAttemptTime: z.string().optional().describe('When the last attempt ended (RFC 3339).'),
  lastResponseCode: z.number().int().optional().describe('The HTTP status of the last answer.'),
  nextAttemptTime: z.string().optional().describe('When the next attempt is due, while Pending (RFC 3339).'),
  message: z.string().max(1024).optional().describe('What went wrong last, for people.'),
}).describe('How delivering one webhook went.');

export type Webhook = z.infer<typeof WebhookSchema>;
export type Notify = z.infer<typeof NotifySchema>;
export type NotificationStatus = z.infer<typeof NotificationStatusSchema>;
export type NotificationState = (typeof notificationStates)[number];
