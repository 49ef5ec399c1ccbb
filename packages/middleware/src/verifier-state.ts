/**
 * What the steps of one verifier share: its settings in the form the steps read them (created once
 * per verifier, never per request), the audit trail of one verification, and the two small rules
 * every step uses (refuse with a code; read a claim as an own member only).
 */
import { type Clock, epochSeconds, InvalidTokenError, type LifetimeRules, type parseAudience } from '@s2sauth/protocol';
import type { PartnerApplication } from '@s2sauth/store';
import type { S2SUser } from './principal.js';
import type { IssuerTrusts } from './issuer-trusts.js';

/**
 * Decides whether the user of a verified user context exists and may be acted for (the local
 * policy of reference-microsoft-s2s.md section 4.6 step 10). Return false to reject with
 * `user_invalid`; a hook that throws rejects the same way.
 */
export type ResolveUser = (user: S2SUser, partner: PartnerApplication) => boolean | Promise<boolean>;

/** One verifier's settings as its steps read them. */
export interface VerifierState {
  /** This server's own principal id. */
  readonly principal: string;
  /** The realm the challenge names (the first configured). */
  readonly realm: string;
  readonly realms: ReadonlySet<string>;
  /** Lower-cased. */
  readonly authorities: ReadonlySet<string>;
  readonly trust: IssuerTrusts;
  readonly clock: Clock;
  readonly clockSkewSeconds: number;
  readonly maxLifetimeSeconds: number;
  readonly resolveUser: ResolveUser | undefined;
  /**
   * The last audience parsed: partners send one audience for all their tokens, so one entry (a
   * pure function of the string) saves the parse without anything growing.
   */
  lastAudience: { readonly text: string | undefined; readonly parsed: ReturnType<typeof parseAudience> };
}

/** Fields of the audit event that are known so far; only ever registry data or verified claims. */
export interface Trail {
  partner?: string;
  applicationId?: string;
  audience?: string;
  tokenId?: string;
  user?: string;
}

/** The lifetime rules at `nowMs` (protocol.md section 3.3 step 4.6). */
export function rulesAt(state: VerifierState, nowMs: number): LifetimeRules {
  return { now: epochSeconds(() => nowMs), skew: state.clockSkewSeconds, maxLifetime: state.maxLifetimeSeconds };
}

/** Refuses the token with `code`; `reason` goes to the audit only. */
export function fail(code: ConstructorParameters<typeof InvalidTokenError>[0], reason: string): never {
  throw new InvalidTokenError(code, reason);
}

/** A member of a token's header or payload, read as an own property only (`__proto__` is inert). */
export function own(payload: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.hasOwn(payload, name) ? payload[name] : undefined;
}
