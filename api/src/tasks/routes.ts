// The task routes under /api/v1/namespaces/:namespace/tasks. A namespace
// outside the caller's tenant, and every task in it, does not exist for the
// caller (404); a role too low for what is asked in its own namespace is 403.
import { Router, type Request, type Response } from 'express';
import type { ClaudeTask } from '../../../crds/src/claude-task.ts';
import type { RunnerCompletedEvent } from '../../../packages/contracts/src/task-events.ts';
import { canSee, canSubmit, type Caller, type StreamTickets } from '../auth/caller.ts';
import type { Clock } from '../../../packages/platform/src/clock.ts';
import { statusCode } from '../../../packages/platform/src/kube-errors.ts';
import { callerOf, contextOf } from '../http/context.ts';
import { idempotent, type IdempotencyStore } from '../http/idempotency.ts';
import { Problem, parseOr400 } from '../http/problem.ts';
import { normalizeEvent } from '../events/normalized.ts';
import { sendReport, type ReportDeps } from '../reports/send.ts';
import type { Logger } from '../../../packages/platform/src/logger.ts';
import type { ChannelSubscriber } from '../stream/channel-subscriber.ts';
import { filesChanged } from './files-changed.ts';
import type { TaskHistory, TaskKey } from './history.ts';
import { submitterAnnotation, tenantAnnotation, type TaskStoreApi } from './kube-tasks.ts';
import { listObjects } from '../kube/object-list.ts';
import {
  CreateTaskBodySchema, EventsQuerySchema, ListQuerySchema, NamespaceSchema, createQuerySchema,
} from './schemas.ts';
import { isTerminal, taskPath, taskView } from './task-view.ts';
import { waitForEnd } from './wait.ts';

export interface TaskRouteDeps {
  tasks: TaskStoreApi;
  history: TaskHistory;
  tickets?: StreamTickets;
  /** The runner's wake-ups, for ?wait. */
  wakeups?: ChannelSubscriber;
  clock: Clock;
  log: Logger;
  maxWaitSeconds: number;
  /** The safety read of a waited-for task's phase, besides the wake-ups. */
  waitRecheckMs: number;
  /** Idempotency-Key; without it a call with the header is 501. */
  idempotency?: IdempotencyStore;
  /** Run reports; without them …/report is 501. */
  reports?: ReportDeps;
}

/** Names as Kubernetes allows them for custom resources (tasks made with kubectl may be longer than the API makes). */
const objectNamePattern = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const maxEventsForFiles = 100_000;

export function taskRoutes(deps: TaskRouteDeps): Router {
  const router = Router({ mergeParams: true });
  const createQuery = createQuerySchema(deps.maxWaitSeconds);

  router.post('/namespaces/:namespace/tasks', async (req, res) => {
    const namespace = visibleNamespace(req, res, 'task.create');
    requireSubmitter(callerOf(res));
    if (await replayed(deps, req, res)) return;
    const query = parseOr400(createQuery, req.query, 'the query', ['query']);
    const body = parseOr400(CreateTaskBodySchema, jsonBody(req), 'the task', ['body']);
    if (body.spec.prompt === undefined && !body.spec.templateRef) {
      throw new Problem('validation-error', 'the task is not valid', { issues: [{ path: 'body.spec.prompt', message: 'Required unless spec.templateRef names a template' }] });
    }
    const caller = callerOf(res);
    const created = await deps.tasks.create(namespace, {
      ...body, annotations: { [tenantAnnotation]: caller.tenant, [submitterAnnotation]: caller.subject.slice(0, 1024) },
    }, caller);
    const name = created.metadata.name ?? '';
    contextOf(res).target = { namespace, name };
    res.location(taskPath(namespace, name));
    if (!query.wait) {
      res.status(202).json(taskView(created));
      return;
    }
    const { task, completed } = await waitForEnd({
      tasks: deps.tasks, lastEvent: (ns, taskName) => deps.history.lastEvent(ns, taskName), wakeups: deps.wakeups,
      clock: deps.clock, log: deps.log, recheckMs: deps.waitRecheckMs,
    }, created, query.wait * 1000, abortOnClose(req, res));
    if (!isTerminal(task)) {
      res.status(202).json(taskView(task));
      return;
    }
    res.status(200).json({ ...taskView(task), result: await resultText(deps, task, completed) });
  });

  router.get('/namespaces/:namespace/tasks', async (req, res) => {
    const namespace = visibleNamespace(req, res);
    const query = parseOr400(ListQuerySchema, req.query, 'the query', ['query']);
    const page = await listObjects(deps.tasks, namespace, query);
    res.json({ ...page, items: page.items.map(taskView) });
  });

  router.get('/namespaces/:namespace/tasks/:name', async (req, res) => {
    const { namespace, name } = visibleTask(req, res);
    res.json(taskView(await deps.tasks.get(namespace, name)));
  });

  router.post('/namespaces/:namespace/tasks/:name/cancel', async (req, res) => {
    const { namespace, name } = visibleTask(req, res, 'task.cancel');
    requireSubmitter(callerOf(res));
    if (await replayed(deps, req, res)) return;
    res.status(202).json(taskView(await deps.tasks.cancel(namespace, name, callerOf(res))));
  });

  router.delete('/namespaces/:namespace/tasks/:name', async (req, res) => {
    const { namespace, name } = visibleTask(req, res, 'task.delete');
    requireSubmitter(callerOf(res));
    await deps.tasks.delete(namespace, name, callerOf(res));
    res.status(202).json({ namespace, name, deleting: true });
  });

  router.get('/namespaces/:namespace/tasks/:name/events', async (req, res) => {
    const { namespace, name } = visibleTask(req, res);
    const query = parseOr400(EventsQuerySchema, req.query, 'the query', ['query']);
    const key = await historyKey(deps, namespace, name);
    const page = await deps.history.events(key, query);
    const last = page.items.at(-1)?.seq;
    const items = query.view === 'normalized' ? page.items.flatMap(normalizeEvent) : page.items;
    res.json({ items, source: page.source, ...(page.items.length === query.limit && last ? { next: last } : {}) });
  });

  router.get('/namespaces/:namespace/tasks/:name/result', async (req, res) => {
    const { namespace, name } = visibleTask(req, res);
    const task = await deps.tasks.get(namespace, name).catch((error: unknown) => {
      if (statusCode(error) === 404) return undefined;
      throw error;
    });
    const key = task ? keyOf(task) : await storedKey(deps, namespace, name);
    const stored = await deps.history.record(key.uid);
    const status = (task?.status ?? stored?.status ?? {}) as ClaudeTask['status'] & object;
    const phase = status.phase ?? stored?.phase ?? 'Pending';
    const events = await deps.history.allEvents(key, maxEventsForFiles);
    res.json({
      phase,
      finished: isTerminal({ status: { phase } } as ClaudeTask),
      result: stored?.result ?? status.result ?? null,
      usage: status.usage ?? null,
      filesChanged: filesChanged(events),
    });
  });

  router.get('/namespaces/:namespace/tasks/:name/report', async (req, res) => {
    const task = visibleTask(req, res);
    if (!deps.reports) throw new Problem('not-implemented', 'reports are not available on this server');
    await sendReport(req, res, deps.reports, task);
  });

  router.post('/namespaces/:namespace/tasks/:name/stream-ticket', async (req, res) => {
    const { namespace, name } = visibleTask(req, res, 'stream-ticket.issue');
    await deps.tasks.get(namespace, name);
    if (!deps.tickets) throw new Problem('not-implemented', 'stream tickets are not available on this server');
    res.status(201).json(await deps.tickets.issue(callerOf(res), { namespace, name }));
  });

  return router;
}

/** The namespace of the path when the caller's tenant has it; 404 otherwise (it does not exist for the caller). */
export function visibleNamespace(req: Request, res: Response, action?: string): string {
  const namespace = String(req.params.namespace ?? '');
  const context = contextOf(res);
  if (action) context.action = action;
  context.target = { namespace };
  if (!NamespaceSchema.safeParse(namespace).success || !canSee(callerOf(res), namespace)) {
    throw new Problem('not-found', 'no such namespace');
  }
  return namespace;
}

function visibleTask(req: Request, res: Response, action?: string): { namespace: string; name: string } {
  return visibleObject(req, res, 'task', action);
}

/** The namespace and the object name of the path; a name Kubernetes cannot have is 404 ("no such <what>"). */
export function visibleObject(req: Request, res: Response, what: string, action?: string): { namespace: string; name: string } {
  const namespace = visibleNamespace(req, res, action);
  const name = String(req.params.name ?? '');
  contextOf(res).target = { namespace, name };
  if (!objectNamePattern.test(name)) throw new Problem('not-found', `no such ${what}`);
  return { namespace, name };
}

/** Whether the answer went out from the Idempotency-Key store (a retry); the audit then says so. */
export async function replayed(deps: Pick<TaskRouteDeps, 'idempotency' | 'log'>, req: Request, res: Response): Promise<boolean> {
  if (await idempotent(deps.idempotency, callerOf(res), req, res, deps.log) === 'proceed') return false;
  const context = contextOf(res);
  context.action = `${context.action}.replayed`;
  return true;
}

export function requireSubmitter(caller: Caller, what = 'tasks'): void {
  if (!canSubmit(caller)) throw new Problem('forbidden', `role ${caller.role} may not change ${what}`);
}

export function jsonBody(req: Request): unknown {
  if (req.body !== undefined) return req.body;
  const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
  if (hasBody) throw new Problem('unsupported-media-type', 'send the body as application/json');
  throw new Problem('validation-error', 'a JSON body is required', { issues: [{ path: 'body', message: 'Required' }] });
}

function keyOf(task: ClaudeTask): TaskKey {
  return { namespace: task.metadata.namespace ?? '', name: task.metadata.name ?? '', uid: task.metadata.uid ?? '' };
}

/** The task's key from Kubernetes, or from Postgres when the task was deleted but its history stays. */
async function historyKey(deps: TaskRouteDeps, namespace: string, name: string): Promise<TaskKey> {
  try {
    return keyOf(await deps.tasks.get(namespace, name));
  } catch (error) {
    if (statusCode(error) !== 404) throw error;
    return storedKey(deps, namespace, name);
  }
}

async function storedKey(deps: TaskRouteDeps, namespace: string, name: string): Promise<TaskKey> {
  const stored = await deps.history.latestByName(namespace, name);
  if (!stored) throw new Problem('not-found', 'no such task');
  return { namespace, name, uid: stored.uid };
}

export function abortOnClose(req: Request, res: Response): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => controller.abort());
  req.once('aborted', () => controller.abort());
  return controller.signal;
}

/** The full final text: from the runner's last event, else the operator's record, else the status's short summary. */
async function resultText(deps: TaskRouteDeps, task: ClaudeTask, completed: RunnerCompletedEvent | undefined): Promise<string | null> {
  if (completed?.result) return completed.result;
  const stored = await deps.history.record(task.metadata.uid ?? '').catch(() => undefined);
  return stored?.result ?? task.status?.result ?? null;
}
