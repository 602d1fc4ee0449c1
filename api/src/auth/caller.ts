// Who is calling: what the API knows of a caller once its token is verified.
// The contract between authentication (REST and WebSocket alike) and the routes.

export const roles = ['viewer', 'submitter', 'admin'] as const;
export type Role = (typeof roles)[number];

export interface Caller {
  /** The token's `sub`. */
  subject: string;
  /** A name for the tenant (for audit and rate limits). */
  tenant: string;
  /** The namespaces this caller may use; nothing outside them exists for it (404, never 403). */
  namespaces: string[];
  role: Role;
}

/** A token or ticket that does not prove who is calling: 401. */
export class AuthenticationError extends Error {}

export interface Authenticator {
  /** Verifies a bearer token (a JWT); throws AuthenticationError when it does not hold. */
  authenticate(bearerToken: string): Promise<Caller>;
}

/** What a stream ticket is for: a task's stream, or (collection 'sessions') a session's. */
export interface StreamTarget { namespace: string; name: string; collection?: 'tasks' | 'sessions' }

/** Short-lived, single-use stream tickets for browsers, which cannot set headers on a WebSocket. */
export interface StreamTickets {
  issue(caller: Caller, target: StreamTarget): Promise<{ ticket: string; expiresInSeconds: number }>;
  /** The caller the ticket was issued to, once; throws AuthenticationError otherwise. */
  redeem(ticket: string, target: StreamTarget): Promise<Caller>;
}

export function canSubmit(caller: Caller): boolean {
  return caller.role === 'submitter' || caller.role === 'admin';
}

export function canSee(caller: Caller, namespace: string): boolean {
  return caller.namespaces.includes(namespace) || caller.namespaces.includes('*');
}
