// The event a finished task's webhooks receive: CloudEvents 1.0 in structured
// mode (the whole event is the JSON body, content type
// application/cloudevents+json), signed as Standard Webhooks sign theirs, so
// receivers can use that spec's libraries: webhook-id, webhook-timestamp (unix
// seconds, to reject replays) and webhook-signature `v1,<base64 HMAC-SHA256 of
// "id.timestamp.body">`. The key is the Secret's bytes as they are.
import { createHmac } from 'node:crypto';
import { claudeTaskPlural, group, version, type ClaudeTask } from '../../../crds/src/claude-task.ts';
import { taskFinishedEventType } from '../../../crds/src/notify.ts';

export interface TaskFinishedEvent {
  specversion: '1.0';
  type: typeof taskFinishedEventType;
  id: string;
  source: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: {
    namespace: string;
    name: string;
    uid: string;
    phase: string;
    reason?: string;
    message?: string;
    startTime?: string;
    completionTime?: string;
    duration?: string;
    attempts?: number;
    model?: string;
    usage?: NonNullable<ClaudeTask['status']>['usage'];
    /** status.result: a summary of at most 4096 characters; the report has the whole answer. */
    result?: string;
    links: { task: string; report?: string; events?: string };
  };
}

/** `apiBaseUrl` is the REST API's root (e.g. https://claude.example.com/api/v1), for the links; without it only the resource's own path is given. */
export function taskFinishedEvent(task: ClaudeTask, eventId: string, apiBaseUrl?: string): TaskFinishedEvent {
  const namespace = task.metadata.namespace ?? '';
  const name = task.metadata.name ?? '';
  const status = task.status ?? {};
  const resource = `/apis/${group}/${version}/namespaces/${namespace}/${claudeTaskPlural}/${name}`;
  const api = apiBaseUrl?.replace(/\/$/, '');
  const taskLink = api ? `${api}/namespaces/${encodeURIComponent(namespace)}/tasks/${encodeURIComponent(name)}` : undefined;
  const optional = <T>(key: string, value: T | undefined) => (value === undefined ? {} : { [key]: value });
  return {
    specversion: '1.0',
    type: taskFinishedEventType,
    id: eventId,
    source: resource,
    subject: name,
    time: status.completionTime ?? new Date().toISOString(),
    datacontenttype: 'application/json',
    data: {
      namespace, name, uid: task.metadata.uid ?? '', phase: status.phase ?? '',
      ...optional('reason', status.reason), ...optional('message', status.message), ...optional('startTime', status.startTime),
      ...optional('completionTime', status.completionTime), ...optional('duration', status.duration), ...optional('attempts', status.attempts),
      ...optional('model', status.model), ...optional('usage', status.usage), ...optional('result', status.result),
      links: taskLink ? { task: taskLink, report: `${taskLink}/report`, events: `${taskLink}/events` } : { task: resource },
    },
  };
}

/** The Standard Webhooks headers for `body`; the signature only with a key. */
export function signatureHeaders(eventId: string, body: string, timestampSeconds: number, key?: Buffer): Record<string, string> {
  const headers: Record<string, string> = { 'webhook-id': eventId, 'webhook-timestamp': String(timestampSeconds) };
  if (key) {
    const signature = createHmac('sha256', key).update(`${eventId}.${timestampSeconds}.${body}`).digest('base64');
    headers['webhook-signature'] = `v1,${signature}`;
  }
  return headers;
}
