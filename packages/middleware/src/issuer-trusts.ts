/**
 * The trust interface the verifier takes (`IssuerTrusts`): what it needs to know about the
 * partners and OAuth servers this server trusts, and nothing about how they are stored or fetched.
 */
import type { PartnerApplication } from '@s2sauth/store';
import type { OAuthServer, ResolvedOAuthServer } from './oauth-server.js';
import type { ResolvedPartner } from './registry.js';

/**
 * Where a verifier finds its trusts: the partner or OAuth server an actor token's issuer selects,
 * that trust's own key set, its registration stamp (`updatedAt`, and the key set's `version`), one
 * revision for all of them, and change events. `PartnerRegistry` is the product's implementation;
 * this is the seam a second store backend and test doubles use (modelled on go-spiffe's
 * `jwtbundle.Source`, the one interface its JWT-SVID verifier takes).
 *
 * Nothing here may fetch for an issuer that is not registered (key sets load lazily, when the
 * verifier asks them for a key). Lookups answer `undefined` for "no such trust"; one that throws
 * fails the verification closed (401 `verification_failed`).
 */
export interface IssuerTrusts {
  /**
   * Changes whenever any registration or key set changes; a verification result (and a
   * challenge) is current only while it is unchanged.
   */
  readonly revision: number;
  /** Subscribes to changes of the trusts; returns the unsubscribe function. Throws when closed. */
  onChange(listener: () => void): () => void;
  /**
   * The partner with its own keys that a self-issued actor's `iss` (`applicationId@realm`) names,
   * disabled ones included; `undefined` for none and for partners that trust through an OAuth
   * server.
   */
  resolve(applicationId: string, realm: string): ResolvedPartner | undefined;
  /**
   * The one OAuth server an actor's `iss` selects (the STS principal in `realm`, or `*`), disabled
   * ones included, with that server's own keys; `undefined` for none.
   *
   * @throws PartnerRegistryError `conflict` when two servers would answer for `realm`.
   */
  resolveOAuthServer(applicationId: string, realm: string): ResolvedOAuthServer | undefined;
  /** The partner registered for `applicationId` in `realm`, whatever its key source and state. */
  find(applicationId: string, realm: string): PartnerApplication | undefined;
  /** Every partner, for the challenge's trusted issuers, ordered by identity. */
  list(): readonly PartnerApplication[];
  /** Every OAuth server, for the challenge, ordered by identity. */
  listOAuthServers(): readonly OAuthServer[];
}

/** The members {@link isIssuerTrusts} checks, in the order the message names them. */
const METHODS = ['onChange', 'resolve', 'resolveOAuthServer', 'find', 'list', 'listOAuthServers'] as const;

/** True for an object with every member of {@link IssuerTrusts}. */
export function isIssuerTrusts(value: unknown): value is IssuerTrusts {
  if (typeof value !== 'object' || value === null) return false;
  const source = value as Record<string, unknown>;
  return typeof source['revision'] === 'number' && METHODS.every((name) => typeof source[name] === 'function');
}

/** What an IssuerTrusts source must have, for misconfiguration messages. */
export const ISSUER_TRUSTS_MEMBERS = `revision, ${METHODS.join(', ')}`;
