// The template routes under /api/v1/namespaces/:namespace/templates: list and
// read templates, and make a task from one. A task made here names its template
// (spec.templateRef) and the operator resolves it on its first pass; the API
// resolves it first with the same function, so a missing or bad parameter is a
// 400 naming it rather than a Failed task.
import { Router } from 'express';
import type { ClaudeTaskTemplate } from '../../../crds/src/claude-task-template.ts';
import { resolveTemplate } from '../../../crds/src/template-resolution.ts';
import { statusCode } from '../../../packages/platform/src/kube-errors.ts';
import { callerOf, contextOf } from '../http/context.ts';
import { Problem, parseOr400 } from '../http/problem.ts';
import { submitterAnnotation, tenantAnnotation, type TaskStoreApi } from '../tasks/kube-tasks.ts';
import { jsonBody, replayed, requireSubmitter, visibleNamespace, visibleObject, type TaskRouteDeps } from '../tasks/routes.ts';
import { taskPath, taskView } from '../tasks/task-view.ts';
import type { TemplateStoreApi } from './kube-templates.ts';
import { CreateTaskFromTemplateBodySchema } from './schemas.ts';

export interface TemplateRouteDeps extends Pick<TaskRouteDeps, 'idempotency' | 'log'> {
  templates: TemplateStoreApi;
  tasks: Pick<TaskStoreApi, 'create'>;
}

export function templateRoutes(deps: TemplateRouteDeps): Router {
  const router = Router({ mergeParams: true });

  router.get('/namespaces/:namespace/templates', async (req, res) => {
    const namespace = visibleNamespace(req, res);
    res.json({ items: (await deps.templates.list(namespace)).map(templateView) });
  });

  router.get('/namespaces/:namespace/templates/:name', async (req, res) => {
    const { namespace, name } = visibleObject(req, res, 'template');
    res.json(templateView(await getTemplate(deps, namespace, name)));
  });

  router.post('/namespaces/:namespace/templates/:name/tasks', async (req, res) => {
    const { namespace, name: templateName } = visibleObject(req, res, 'template', 'task.create');
    requireSubmitter(callerOf(res));
    if (await replayed(deps, req, res)) return;
    const body = parseOr400(CreateTaskFromTemplateBodySchema, jsonBody(req), 'the task', ['body']);
    const template = await getTemplate(deps, namespace, templateName);
    const spec = { templateRef: { name: templateName }, ...(body.variables ? { variables: body.variables } : {}) };
    const resolution = resolveTemplate(templateName, template.spec, spec);
    if (!resolution.ok) {
      throw new Problem('validation-error', resolution.message, { issues: [{ path: 'body.variables', message: resolution.message, code: resolution.reason }] });
    }
    const caller = callerOf(res);
    const created = await deps.tasks.create(namespace, {
      ...(body.name ? { name: body.name } : {}), ...(body.labels ? { labels: body.labels } : {}), spec,
      annotations: { [tenantAnnotation]: caller.tenant, [submitterAnnotation]: caller.subject.slice(0, 1024) },
    }, caller);
    const name = created.metadata.name ?? '';
    contextOf(res).target = { namespace, name };
    res.location(taskPath(namespace, name)).status(202).json(taskView(created));
  });

  return router;
}

async function getTemplate(deps: TemplateRouteDeps, namespace: string, name: string): Promise<ClaudeTaskTemplate> {
  try {
    return await deps.templates.get(namespace, name);
  } catch (error) {
    if (statusCode(error) === 404) throw new Problem('not-found', `no such template: ${name}`);
    throw error;
  }
}

function templateView(template: ClaudeTaskTemplate) {
  const { name = '', namespace = '', uid = '', labels, creationTimestamp, resourceVersion } = template.metadata;
  return {
    apiVersion: template.apiVersion ?? '',
    kind: 'ClaudeTaskTemplate' as const,
    metadata: {
      name, namespace, uid, ...(labels ? { labels } : {}),
      ...(creationTimestamp ? { creationTimestamp: creationTimestamp instanceof Date ? creationTimestamp.toISOString() : String(creationTimestamp) } : {}),
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    spec: template.spec,
  };
}
