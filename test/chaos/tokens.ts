// Tokens for the stack's API, signed with the key `up` writes to its settings, for
// the faults that need many callers (so the per-caller rate limit does not hide
// what they send) or a valid token to tamper with.
import { SignJWT } from 'jose';
import type { StackSettings } from '../bench/support.ts';

type SigningSettings = Pick<StackSettings, 'API_JWT_SECRET' | 'API_JWT_ISSUER' | 'API_JWT_AUDIENCE'>;

export interface TokenClaims {
  subject: string;
  tenant?: string;
  namespaces?: string[];
  role?: 'viewer' | 'submitter' | 'admin';
}

export async function mintToken(settings: SigningSettings, claims: TokenClaims): Promise<string> {
  return new SignJWT({ tenant: claims.tenant ?? claims.subject, namespaces: claims.namespaces ?? ['*'], role: claims.role ?? 'admin' })
    .setProtectedHeader({ alg: 'HS256' }).setIssuer(settings.API_JWT_ISSUER).setAudience(settings.API_JWT_AUDIENCE)
    .setSubject(claims.subject).setIssuedAt().setExpirationTime('1h')
    .sign(new TextEncoder().encode(settings.API_JWT_SECRET));
}
