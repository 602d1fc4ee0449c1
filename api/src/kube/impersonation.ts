// Writes as the caller: with impersonation on, the API's requests for a
// caller carry Impersonate-User and Impersonate-Group, so the apiserver's RBAC,
// the admission policies (the created-by stamp) and its audit log see the
// JWT's subject and tenant, not the API's service account. Both are prefixed
// (API_IMPERSONATION_USER_PREFIX) so a token's `sub` cannot name a user of the
// cluster itself (system:admin, system:serviceaccount:…).
import { setHeaderOptions, type ConfigurationOptions } from '@kubernetes/client-node';
import type { Caller } from '../auth/caller.ts';

export interface Impersonation {
  user: string;
  /** The tenant's group; the caller's only one (the client sets each header once). */
  group: string;
}

/** Who the apiserver is asked to see for this caller. */
export function impersonationOf(caller: Pick<Caller, 'subject' | 'tenant'>, prefix: string): Impersonation {
  return { user: `${prefix}${caller.subject}`, group: tenantGroup(caller.tenant, prefix) };
}

/** The group a tenant's users are in; platform teams bind the submitter ClusterRole to it per namespace. */
export function tenantGroup(tenant: string, prefix: string): string {
  return `${prefix}tenant:${tenant}`;
}

/** Per-call options whose requests carry the impersonation headers, added to any given options (a patch's Content-Type). */
export function impersonationOptions(impersonation: Impersonation, options?: ConfigurationOptions): ConfigurationOptions {
  return setHeaderOptions('Impersonate-Group', impersonation.group, setHeaderOptions('Impersonate-User', impersonation.user, options));
}

/** What a store needs to write as a caller: the prefix when impersonation is on, nothing when off. */
export interface Actors {
  /** Whether requests for callers go as the callers (impersonation on). */
  impersonates: boolean;
  /** The options for a write by this caller: with impersonation off, the given ones as they are (the API's own identity). */
  optionsFor(caller: Caller, options?: ConfigurationOptions): ConfigurationOptions | undefined;
}

/** Every request as the API's own identity (impersonation off). */
export const asTheApi: Actors = { impersonates: false, optionsFor: (_caller, options) => options };

export function actors(config: { API_IMPERSONATION: 'off' | 'on'; API_IMPERSONATION_USER_PREFIX: string }): Actors {
  if (config.API_IMPERSONATION === 'off') return asTheApi;
  const prefix = config.API_IMPERSONATION_USER_PREFIX;
  return { impersonates: true, optionsFor: (caller, options) => impersonationOptions(impersonationOf(caller, prefix), options) };
}
