/**
 * Protocol.md section 3.3 step 6: the outer (user context) token, looked at only after its actor
 * verified, bound to it (same key, or over an STS-issued actor the `x5c` certificate the actor's
 * `cnf` confirms; same `aud`; `iss` = the actor's `nameid`; inside the actor's window), and never
 * deciding which application is calling. Then the user it names, and the `resolveUser` hook.
 */
import {
  checkLifetime,
  MetadataError,
  type ParsedJws,
  readOuterClaims,
  type SigningKey,
  signingKeyFromCertificate,
  x5tS256,
} from '@s2sauth/protocol';
import type { PartnerApplication } from '@s2sauth/store';
import type { VerifiedActor } from './actor-token.js';
import type { S2SUser } from './principal.js';
import { checkSignature } from './signature.js';
import { fail, rulesAt, type Trail, type VerifierState } from './verifier-state.js';

/** What verifying the outer token established. */
export interface VerifiedOuter {
  readonly user: S2SUser;
  readonly exp: number;
  /** The outer token's own `x5c` certificate, over an STS-issued actor. */
  readonly certificate: SigningKey | undefined;
}

/** The user of an outer token, with only the members it has. */
function userOf(claims: S2SUser): S2SUser {
  const user: Record<string, string> = {};
  for (const name of ['nameid', 'nii', 'smtp', 'sip', 'upn'] as const) {
    const value = claims[name];
    if (value !== undefined) user[name] = value;
  }
  return Object.freeze(user as S2SUser);
}

/** The name a user goes by in the audit log. */
export function userLabel(user: S2SUser): string | undefined {
  return [user.nameid, user.upn, user.smtp, user.sip].find((value) => value !== undefined && value !== '');
}

/** The `resolveUser` hook's verdict on `user` acting through `partner`, when one is configured. */
export async function checkUser(state: VerifierState, user: S2SUser, partner: PartnerApplication): Promise<void> {
  const { resolveUser } = state;
  if (resolveUser === undefined) return;
  let known: boolean;
  try {
    known = await resolveUser(user, partner);
  } catch (error) {
    fail('user_invalid', `the resolveUser hook failed (${error instanceof Error ? error.name : typeof error})`);
  }
  if (known !== true) fail('user_invalid', 'the resolveUser hook did not accept the user');
}

/**
 * The key an outer token over an STS-issued actor is signed with: the one certificate of its
 * `x5c`, used only after its SHA-256 thumbprint equals the actor's `cnf`, and only while it is
 * a valid RSA signing certificate (protocol.md sections 2 and 3.2).
 */
function confirmedKey(outer: ParsedJws, actor: VerifiedActor, nowMs: number): SigningKey {
  const confirmation = actor.claims.cnf?.['x5t#S256'];
  // Unreachable while the trust table demands delegation and delegation demands cnf; kept so
  // that this function alone never accepts an outer token without a confirmation to match.
  if (confirmation === undefined) fail('cnf_mismatch', 'the STS-issued actor token confirms no certificate (no cnf)');
  const chain = outer.header.x5c;
  const encoded = chain?.[0];
  if (chain === undefined || chain.length !== 1 || encoded === undefined) {
    fail('cnf_mismatch', 'the outer token over an STS-issued actor carries no x5c certificate');
  }
  if (x5tS256(Buffer.from(encoded, 'base64')) !== confirmation) {
    fail('cnf_mismatch', 'the outer token\'s x5c certificate is not the one its actor token\'s cnf names');
  }
  try {
    return signingKeyFromCertificate(encoded, nowMs);
  } catch (error) {
    if (error instanceof MetadataError) fail('key_unknown', `the outer token's x5c certificate is not acceptable now (${error.code})`);
    throw error;
  }
}

/**
 * The outer token's signature (protocol.md 3.2): over an STS-issued actor, the `x5c` certificate
 * the actor's `cnf` confirms; over a self-issued actor, the very key that signed the actor, or no
 * signature at all when the partner accepts unsigned user context. Returns the `x5c` certificate.
 */
function checkOuterSignature(outer: ParsedJws, actor: VerifiedActor, nowMs: number): SigningKey | undefined {
  const { partner } = actor;
  if (actor.signer === 'sts') {
    // The signed form is required whatever the partner allows: the actor's cnf names the key
    // that must sign, and an unsigned outer token proves nothing about holding it.
    if (outer.header.alg === 'none') {
      fail('outer_unsigned', 'an outer token over an STS-issued actor must be signed with the certificate its cnf names');
    }
    const certificate = confirmedKey(outer, actor, nowMs);
    checkSignature(outer.token, certificate, 'outer_signature_invalid', 'outer token', 'its x5c certificate');
    return certificate;
  }
  if (Object.hasOwn(outer.header, 'x5c')) fail('token_x5c_not_allowed', 'an outer token over a self-issued actor may not carry x5c');
  if (outer.header.alg === 'none') {
    if (!partner.acceptUnsignedUserContext) {
      fail('outer_unsigned', `partner "${partner.identity}" is not allowed to send unsigned user context`);
    }
    return undefined;
  }
  // Self-issued actor: the outer token must be signed with the very key that signed the actor.
  const outerKeyId = outer.header.x5t ?? outer.header.kid;
  if (outerKeyId !== undefined && outerKeyId !== actor.keyId) {
    fail('outer_signature_invalid', 'the outer token names another key than its actor token');
  }
  if (outer.header['x5t#S256'] !== undefined && outer.header['x5t#S256'] !== actor.key.x5tS256) {
    fail('outer_signature_invalid', 'the outer token x5t#S256 names another certificate than its actor token\'s');
  }
  checkSignature(outer.token, actor.key, 'outer_signature_invalid', 'outer token');
  return undefined;
}

/** Step 6: the outer token, bound to its verified actor. */
export async function verifyOuter(
  state: VerifierState,
  outer: ParsedJws,
  actor: VerifiedActor,
  trail: Trail,
  nowMs: number,
): Promise<VerifiedOuter> {
  const certificate = checkOuterSignature(outer, actor, nowMs);
  const claims = readOuterClaims(outer.payload);
  if (claims.aud !== actor.claims.aud) fail('outer_binding', 'outer token aud is not its actor token\'s aud');
  if (claims.iss !== actor.claims.nameid) fail('outer_binding', 'outer token iss is not its actor token\'s nameid');
  if (claims.nbf < actor.claims.nbf || claims.exp > actor.claims.exp) {
    fail('outer_window', 'outer token nbf/exp are not within its actor token\'s window');
  }
  checkLifetime(claims, rulesAt(state, nowMs));
  const user = userOf(claims);
  const label = userLabel(user);
  if (label === undefined) fail('user_invalid', 'outer token names no user (nameid, smtp, sip or upn)');
  trail.user = label;
  await checkUser(state, user, actor.partner);
  return { user, exp: claims.exp, certificate };
}
