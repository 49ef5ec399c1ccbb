/**
 * The trust-level table of protocol.md section 5 (Lync's `-ApplicationTrustLevel`), as code:
 *
 * | trust level   | app-only call | call with user context                                   |
 * |---------------|---------------|----------------------------------------------------------|
 * | `full`        | accepted      | accepted for any user of the realm                       |
 * | `application` | accepted      | only with an STS-issued actor carrying `trustedfordelegation` |
 * | `user`        | rejected      | only with an STS-issued actor carrying `trustedfordelegation` |
 *
 * Trust comes from the registration only. The token's `trustedfordelegation` claim can only keep a
 * user context out, never let one in that the registration does not allow, and only the exact JSON
 * string `"true"` counts: `"True"`, `"false"`, `true`, `1` all mean "not trusted for delegation".
 */
import { InvalidTokenError } from '@s2sauth/protocol';
import type { PartnerApplication } from '@s2sauth/store';

/** Who signed the actor token: the partner itself (self-issued) or a trusted OAuth server (STS). */
export type ActorIssuer = 'self' | 'sts';

/** The kind of call whose trust is being decided. */
export interface CallKind {
  /** True when an outer token carries a user context. */
  readonly userContext: boolean;
  readonly actorIssuer: ActorIssuer;
  /** The verified actor token's raw `trustedfordelegation` value, of whatever JSON type it was. */
  readonly trustedForDelegation: unknown;
}

/**
 * Decides whether `partner`'s trust level allows this kind of call (protocol.md section 3.3 step 5).
 *
 * @throws InvalidTokenError `trust_level` when the trust level does not allow this kind of call
 *   at all; `delegation_not_allowed` when a user context comes with an actor that is not trusted
 *   for delegation.
 */
export function checkTrustLevel(partner: Pick<PartnerApplication, 'identity' | 'trustLevel'>, call: CallKind): void {
  const level: string = partner.trustLevel;
  const who = `partner "${partner.identity}" (trust level ${level})`;
  if (level !== 'full' && level !== 'application' && level !== 'user') {
    // A record the store should never have let through; refuse rather than guess.
    throw new InvalidTokenError('trust_level', `${who}: unknown trust level`);
  }
  if (!call.userContext) {
    if (level === 'user') throw new InvalidTokenError('trust_level', `${who} cannot represent itself (app-only call)`);
    return;
  }
  if (level !== 'full' && call.actorIssuer !== 'sts') {
    throw new InvalidTokenError('trust_level', `${who} may act for a user only with an STS-issued actor token`);
  }
  if (call.trustedForDelegation !== 'true') {
    throw new InvalidTokenError(
      'delegation_not_allowed',
      `${who}: the actor token is not trusted for delegation (trustedfordelegation is not the string "true")`,
    );
  }
}
