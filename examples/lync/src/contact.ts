/**
 * A contact in a user's contact list, as Lync's routes and Exchange's unified contact store both
 * carry it: `id`, `displayName`, `email`, and optionally `sip` and `phone`.
 */
import { invalidRequest } from '@s2sauth/example-support';
import { bodyObject, emailAddress, optionalText, requiredText } from './request-body.js';

/** A stored contact. */
export interface Contact {
  readonly id: string;
  readonly displayName: string;
  readonly email: string;
  readonly sip?: string;
  readonly phone?: string;
}

/** A contact to add (the store assigns the id). */
export type NewContact = Omit<Contact, 'id'>;

const PHONE = /^\+?[0-9 ().-]{1,40}$/;

/** Reads a new contact from a request body. @throws ApiError 400 naming the field. */
export function readNewContact(body: unknown): NewContact {
  const fields = bodyObject(body);
  const displayName = requiredText(fields, 'displayName', 200);
  const email = emailAddress(fields.email, 'email');
  const sip = optionalText(fields, 'sip', 260);
  if (sip !== undefined && !/^(sip:)?[^\s@]{1,64}@[^\s@]{1,190}$/i.test(sip)) throw invalidRequest('"sip" must be a SIP address like sip:bob@contoso.com.');
  const phone = optionalText(fields, 'phone', 40);
  if (phone !== undefined && !PHONE.test(phone)) throw invalidRequest('"phone" must be a phone number (digits, spaces, + ( ) . -).');
  return { displayName, email, ...(sip === undefined ? {} : { sip }), ...(phone === undefined ? {} : { phone }) };
}

/**
 * A contact from another server's answer, or `undefined` when it does not have a contact's
 * shape. Only the known fields are kept, so nothing unexpected reaches Lync's users.
 */
export function contactFrom(value: unknown): Contact | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  const { id, displayName, email, sip, phone } = record;
  if ((typeof id !== 'string' && typeof id !== 'number') || typeof displayName !== 'string' || typeof email !== 'string') return undefined;
  return {
    id: String(id),
    displayName,
    email,
    ...(typeof sip === 'string' ? { sip } : {}),
    ...(typeof phone === 'string' ? { phone } : {}),
  };
}

/** The key two contacts are "the same person" by: the e-mail address, case-insensitively, and the display name. */
export function contactIdentity(contact: Pick<Contact, 'displayName' | 'email'>): string {
  return JSON.stringify([contact.email.toLowerCase(), contact.displayName]);
}
