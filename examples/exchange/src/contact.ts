/**
 * A contact of the unified contact store (Exchange's "UCS": the contact list Lync keeps in the
 * user's mailbox instead of its own database).
 */
import { ADDRESS, invalidRequest, readObject, readOptionalString, readString, refuseUnknownMembers } from '@s2sauth/example-support';

/** A contact as stored and answered. */
export interface Contact {
  readonly id: string;
  readonly displayName: string;
  readonly email: string;
  readonly sip?: string;
  readonly phone?: string;
}

/** What a client may set on a contact (everything but the id). */
export type ContactInput = Omit<Contact, 'id'>;

/** `sip:alice@contoso.com` or `alice@contoso.com`. */
const SIP = { test: /^(sip:)?[^\s@<>()",;]+@[^\s@<>()",;:]+$/i, description: 'a SIP address like sip:alice@contoso.com' } as const;
/** Digits with the usual separators, optionally starting with `+` (E.123 style). */
const PHONE = { test: /^\+?[0-9][0-9 ().\-]{0,38}$/, description: 'a phone number like +1 425 555 0100' } as const;

const MEMBERS = ['id', 'displayName', 'email', 'sip', 'phone'] as const;

/**
 * Reads a contact from a request body: `displayName` and `email` required, `sip` and `phone`
 * optional (absent or `null`: none). An `id` member is ignored on create (the server assigns ids)
 * and must equal `id` on replace.
 * @throws ApiError 400 naming the member at fault.
 */
export function readContactInput(body: unknown, id?: string): ContactInput {
  const object = readObject(body, 'The request body', 'a contact { displayName, email, sip?, phone? }');
  refuseUnknownMembers(object, MEMBERS, 'The contact');
  if (id !== undefined && object['id'] !== undefined && object['id'] !== id) {
    throw invalidRequest('The contact\'s id member does not match the id in the URL.');
  }
  const displayName = readString(object['displayName'], 'displayName', { max: 256 });
  const email = readString(object['email'], 'email', { max: 320, pattern: ADDRESS });
  const sip = readOptionalString(object['sip'], 'sip', { max: 324, pattern: SIP });
  const phone = readOptionalString(object['phone'], 'phone', { max: 40, pattern: PHONE });
  return {
    displayName,
    email,
    ...(sip === undefined ? {} : { sip }),
    ...(phone === undefined ? {} : { phone }),
  };
}
