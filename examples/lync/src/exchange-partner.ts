/**
 * Exchange as Lync calls it: the unified contact store and the archive, always on behalf of a Lync
 * user (a user-context token from the S2S client, protocol.md section 3.2), never with a password
 * or a cookie. Failures become {@link ApiError}s with a sentence a user can act on.
 */
import { ApiError, stsFailure } from '@s2sauth/example-support';
import { S2SClientError, StsTokenError, type PartnerEndpoint, type UserContext } from '@s2sauth/issuer';
import type { LyncUser } from './accounts.js';
import { contactFrom, type Contact, type NewContact } from './contact.js';

/** An IM transcript as Exchange's `POST /api/archive` takes it. */
export interface Transcript {
  readonly conversationId: string;
  readonly subject: string;
  readonly participants: readonly string[];
  readonly messages: readonly { readonly from: string; readonly text: string; readonly sentAt: string }[];
  readonly receivedAt?: string;
}

/** The scopes Lync asks Exchange for, per kind of call. */
export const EXCHANGE_SCOPES = {
  contactsRead: ['contacts.read'],
  contactsWrite: ['contacts.write'],
  archiveWrite: ['archive.write'],
} as const;

/** The user claims of a Lync user: the user name is the UPN, the SMTP and the SIP address. */
export function userContextOf(user: Pick<LyncUser, 'username'>): UserContext {
  return { nameid: user.username, upn: user.username, smtp: user.username, sip: user.username };
}

/** A failed call to Exchange as the answer Lync gives its own user (502, or 504 on a timeout; `sts_*` when the token could not be had). */
export function exchangeFailure(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof S2SClientError) {
    if (error.code === 'unauthorized' || error.status === 403) {
      return new ApiError(
        502,
        'exchange_refused',
        `Exchange refused Lync's server-to-server call (${error.status ?? 401}). An administrator must check Lync's partner application registration in Exchange. ${error.message}`,
        { cause: error },
      );
    }
    if (error.code === 'timeout') return new ApiError(504, 'exchange_timeout', `Exchange did not answer in time. ${error.message}`, { cause: error });
    return new ApiError(502, 'exchange_unavailable', `Exchange could not complete Lync's call. ${error.message}`, { cause: error });
  }
  // With `sts`, the token comes from the authorization server: say so, or the STS looks like Exchange failing.
  if (error instanceof StsTokenError) return stsFailure(error, 'Lync', 'Exchange');
  return new ApiError(502, 'exchange_unavailable', 'Exchange could not complete Lync\'s call.', { cause: error });
}

/** Statuses of Exchange's that say nothing about one request, only about Exchange or Lync's standing there. */
const OUTAGE_STATUSES: ReadonlySet<number> = new Set([401, 403, 408, 429]);

/**
 * Whether a failed call says Exchange is failing for every request (down, too slow, refusing Lync,
 * failing with 5xx, or no token to be had), rather than refusing this one request with a 4xx.
 * The outbox probes Exchange instead of trying every transcript while this is true.
 */
export function isExchangeOutage(error: unknown): boolean {
  const cause = error instanceof ApiError ? error.cause : error;
  if (error instanceof ApiError && error.code === 'exchange_invalid_answer') return false;
  if (cause instanceof S2SClientError && cause.code === 'status' && cause.status !== undefined) {
    return cause.status >= 500 || OUTAGE_STATUSES.has(cause.status);
  }
  return true;
}

/** Lync's calls to one Exchange server. Every method throws an {@link ApiError} when the call fails. */
export class ExchangePartner {
  readonly #endpoint: PartnerEndpoint;

  constructor(endpoint: PartnerEndpoint) {
    this.#endpoint = endpoint;
  }

  /** The Exchange origin, for logs. */
  get origin(): string {
    return this.#endpoint.origin;
  }

  /** `GET /api/ucs/contacts` for `user`. */
  async listContacts(user: LyncUser, signal?: AbortSignal): Promise<Contact[]> {
    const body = await this.#json('/api/ucs/contacts', { user: userContextOf(user), scopes: EXCHANGE_SCOPES.contactsRead, ...(signal ? { signal } : {}) });
    if (!Array.isArray(body)) throw invalidAnswer('the contact list is not a JSON array');
    return body.map((item: unknown) => contactFrom(item) ?? invalidAnswer('a contact in the list has no id, displayName or email'));
  }

  /** `POST /api/ucs/contacts` for `user`; the created contact. */
  async addContact(user: LyncUser, contact: NewContact): Promise<Contact> {
    const body = await this.#json('/api/ucs/contacts', { user: userContextOf(user), scopes: EXCHANGE_SCOPES.contactsWrite, method: 'POST', json: contact });
    return contactFrom(body) ?? invalidAnswer('the created contact has no id, displayName or email');
  }

  /** `DELETE /api/ucs/contacts/:id` for `user`; false when Exchange has no such contact (404). */
  async deleteContact(user: LyncUser, id: string): Promise<boolean> {
    let response: Response;
    try {
      response = await this.#endpoint.fetch(`/api/ucs/contacts/${encodeURIComponent(id)}`, {
        user: userContextOf(user),
        scopes: EXCHANGE_SCOPES.contactsWrite,
        method: 'DELETE',
      });
      await response.arrayBuffer();
    } catch (error) {
      throw exchangeFailure(error);
    }
    if (response.status === 404) return false;
    if (response.status < 200 || response.status > 299) {
      throw exchangeFailure(new S2SClientError('status', `${this.origin} answered DELETE /api/ucs/contacts/… with ${response.status}.`, { target: this.origin, status: response.status }));
    }
    return true;
  }

  /**
   * `POST /api/archive` on behalf of the conversation's organizer. Exchange stores a transcript once
   * per `conversationId`, so delivering the same one again is harmless; every delivery of it also
   * carries the same `Idempotency-Key` (`transcript-<conversationId>`), kept across restarts, so a
   * repeat gets Exchange's first answer.
   */
  async archive(organizer: Pick<LyncUser, 'username'>, transcript: Transcript, signal?: AbortSignal): Promise<void> {
    await this.#json('/api/archive', {
      user: userContextOf(organizer),
      scopes: EXCHANGE_SCOPES.archiveWrite,
      method: 'POST',
      json: transcript,
      idempotencyKey: `transcript-${transcript.conversationId}`,
      ...(signal ? { signal } : {}),
    });
  }

  async #json(path: string, options: Parameters<PartnerEndpoint['json']>[1]): Promise<unknown> {
    try {
      return await this.#endpoint.json<unknown>(path, options);
    } catch (error) {
      throw exchangeFailure(error);
    }
  }
}

function invalidAnswer(what: string): never {
  throw new ApiError(502, 'exchange_invalid_answer', `Exchange's answer could not be used: ${what}.`);
}
