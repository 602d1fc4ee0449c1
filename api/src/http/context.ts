// What the middleware learns of a request and the routes read: kept in res.locals.
import type { Response } from 'express';
import type { Caller } from '../auth/caller.ts';
import { Problem } from './problem.ts';

export interface RequestContext {
  requestId: string;
  startedAt: number;
  caller?: Caller;
  /** What a mutating call asked for, for the audit: task.create, task.cancel, ... */
  action?: string;
  target?: { namespace?: string; name?: string };
}

export function contextOf(res: Response): RequestContext {
  return res.locals as RequestContext;
}

export function callerOf(res: Response): Caller {
  const caller = contextOf(res).caller;
  if (!caller) throw new Problem('unauthorized');
  return caller;
}
