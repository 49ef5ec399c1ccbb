/**
 * The error of the partner registry's administrative operations, {@link PartnerRegistryError},
 * with its stable codes and the messages every aggregate of the registry (partners, OAuth
 * servers) words the same way.
 */
import { S2SAuthError } from '@s2sauth/protocol';

/** Why the registry refused an administrative operation. */
export type PartnerRegistryErrorCode =
  /** A field of the registration is not valid (`field` names it). */
  | 'invalid'
  /** A partner with this identity is already registered. */
  | 'exists'
  /** No partner (or OAuth server) with this identity is registered. */
  | 'not_found'
  /**
   * Another registration holds this (applicationId, realm) (or, for an OAuth server, this realm),
   * or the registration changed meanwhile.
   */
  | 'conflict'
  /** The metadata document could not be fetched. */
  | 'metadata_unavailable'
  /** The metadata document is not a valid signing-key document. */
  | 'metadata_invalid'
  /** The metadata document contradicts the registration (issuer, serviceName or realm). */
  | 'metadata_contradicts'
  /** The store does not keep OAuth servers (it does not implement `OAuthServerStore`). */
  | 'unsupported'
  /** The registry was closed. */
  | 'closed';

/**
 * An administrative operation was refused. The message is for a person: it names the field or the
 * problem, never a certificate or document content.
 */
export class PartnerRegistryError extends S2SAuthError<PartnerRegistryErrorCode> {
  /** The input field at fault, when one is. */
  readonly field: string | undefined;

  constructor(code: PartnerRegistryErrorCode, message: string, field?: string, options?: ErrorOptions) {
    super(code, message, options);
    this.field = field;
  }
}

/** How messages name one kind of registration: `partner`, `OAuth server`. */
export interface RegistrationNoun {
  /** The noun with its article: `a partner`, `an OAuth server`. */
  readonly one: string;
  /** The bare noun: `partner`, `OAuth server`. */
  readonly name: string;
  /** What a change must not have touched meanwhile, when a document was fetched for the old one. */
  readonly basis: string;
}

/** The `invalid` error naming `field`. */
export function invalid(field: string, message: string): PartnerRegistryError {
  return new PartnerRegistryError('invalid', `${field}: ${message}`, field);
}

/** The `exists` error for a second registration named `identity`. */
export function alreadyRegistered(noun: RegistrationNoun, identity: string): PartnerRegistryError {
  return new PartnerRegistryError('exists', `identity: ${noun.one} named "${identity}" is already registered`, 'identity');
}

/** The `not_found` error for `identity`. */
export function notRegistered(noun: RegistrationNoun, identity: string): PartnerRegistryError {
  return new PartnerRegistryError('not_found', `no ${noun.name} named "${identity}" is registered`, 'identity');
}

/** The `conflict` error for a change whose basis another writer changed meanwhile. */
export function changedMeanwhile(noun: RegistrationNoun, identity: string): PartnerRegistryError {
  return new PartnerRegistryError('conflict', `${noun.name} "${identity}" had its ${noun.basis} changed meanwhile; try again`);
}
