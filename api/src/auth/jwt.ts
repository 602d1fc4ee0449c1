// Bearer JWTs checked with jose: the algorithm is pinned by the key source
// (HS256 for a shared secret; RS256/ES256 for a JWKS), and exp, nbf, iss and aud
// must hold. The claims then map to a Caller; a token without a usable tenant,
// namespace list or role proves nothing and is refused like a bad signature.
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { AuthenticationError, roles, type Authenticator, type Caller, type Role } from './caller.ts';

export interface JwtClaimNames {
  tenant: string;
  namespaces: string;
  role: string;
}

export const defaultClaimNames: JwtClaimNames = { tenant: 'tenant', namespaces: 'namespaces', role: 'role' };

export interface JwtAuthenticatorOptions {
  /** One of the two key sources. */
  hs256Secret?: string;
  jwksUrl?: string;
  issuer: string;
  audience: string;
  claims?: Partial<JwtClaimNames>;
  clockToleranceSeconds?: number;
  /** For tests: the time tokens are checked against. */
  now?: () => Date;
}

/** The keys could not be fetched: the token was not judged (503, not 401). */
export class KeySourceUnavailableError extends Error {}

const maxTokenLength = 16 * 1024;
const namespacePattern = /^(\*|[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)$/;

export class JwtAuthenticator implements Authenticator {
  private readonly key: Uint8Array | JWTVerifyGetKey;
  private readonly algorithms: string[];
  private readonly claims: JwtClaimNames;
  private readonly options: JwtAuthenticatorOptions;

  constructor(options: JwtAuthenticatorOptions) {
    this.options = options;
    if (Boolean(options.hs256Secret) === Boolean(options.jwksUrl)) throw new Error('exactly one of hs256Secret and jwksUrl');
    if (options.hs256Secret) {
      this.key = new TextEncoder().encode(options.hs256Secret);
      this.algorithms = ['HS256'];
    } else {
      this.key = createRemoteJWKSet(new URL(options.jwksUrl!), { timeoutDuration: 5000, cooldownDuration: 30_000 });
      this.algorithms = ['RS256', 'ES256'];
    }
    this.claims = { ...defaultClaimNames, ...options.claims };
  }

  async authenticate(bearerToken: string): Promise<Caller> {
    if (!bearerToken || bearerToken.length > maxTokenLength) throw new AuthenticationError('no usable token');
    let payload: JWTPayload;
    try {
      const verifyOptions = {
        algorithms: this.algorithms,
        issuer: this.options.issuer,
        audience: this.options.audience,
        clockTolerance: this.options.clockToleranceSeconds ?? 5,
        requiredClaims: ['exp', 'sub'],
        ...(this.options.now ? { currentDate: this.options.now() } : {}),
      };
      // Two calls rather than one over a union, so each key type meets its own overload.
      ({ payload } = this.key instanceof Uint8Array
        ? await jwtVerify(bearerToken, this.key, verifyOptions)
        : await jwtVerify(bearerToken, this.key, verifyOptions));
    } catch (error) {
      // A JWKS that cannot be reached says nothing about the token.
      const keysUnreachable = error instanceof errors.JWKSTimeout || (!(error instanceof errors.JOSEError) && !(this.key instanceof Uint8Array));
      if (keysUnreachable) {
        throw new KeySourceUnavailableError('the JWKS could not be fetched', { cause: error });
      }
      throw new AuthenticationError(reasonOf(error));
    }
    return callerOf(payload, this.claims);
  }
}

/** The Caller a verified token's claims describe; AuthenticationError when they describe none. */
export function callerOf(payload: JWTPayload, claims: JwtClaimNames = defaultClaimNames): Caller {
  const subject = payload.sub;
  if (typeof subject !== 'string' || subject === '') throw new AuthenticationError('token has no subject');
  const tenant = payload[claims.tenant];
  if (typeof tenant !== 'string' || tenant === '' || tenant.length > 253) throw new AuthenticationError(`token has no valid ${claims.tenant} claim`);
  const role = payload[claims.role];
  if (typeof role !== 'string' || !(roles as readonly string[]).includes(role)) {
    throw new AuthenticationError(`token has no valid ${claims.role} claim (one of ${roles.join(', ')})`);
  }
  const namespaces = namespacesOf(payload[claims.namespaces]);
  if (!namespaces) throw new AuthenticationError(`token has no valid ${claims.namespaces} claim`);
  return { subject, tenant, namespaces, role: role as Role };
}

/** An array of names, or one space-separated string (as OAuth scopes are). */
function namespacesOf(value: unknown): string[] | undefined {
  const list = typeof value === 'string' ? value.split(' ').filter(Boolean) : value;
  if (!Array.isArray(list) || list.length === 0 || list.length > 1000) return undefined;
  if (!list.every((item) => typeof item === 'string' && namespacePattern.test(item))) return undefined;
  return [...new Set(list as string[])];
}

function reasonOf(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token expired';
  if (error instanceof errors.JWTClaimValidationFailed) return `token claim ${error.claim} invalid: ${error.reason}`;
  if (error instanceof errors.JOSEAlgNotAllowed) return 'token algorithm not allowed';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'token signature invalid';
  if (error instanceof errors.JWKSNoMatchingKey) return 'no key matches the token';
  if (error instanceof errors.JOSEError) return `token invalid (${error.code})`;
  return 'token invalid';
}
