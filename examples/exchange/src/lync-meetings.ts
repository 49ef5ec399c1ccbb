/**
 * Online meetings scheduled in Lync on behalf of a signed-in user: Exchange calls Lync's
 * conferencing API with a user-context token from the S2S client (protocol.md section 3.2), the
 * way Outlook Web App's "Online meeting" button asks Lync for a join URL. The user's password and
 * session cookie never leave Exchange; Lync sees one bearer token naming the user.
 */
import { ADDRESS, ApiError, invalidRequest, readArray, readDateTime, readObject, readString, refuseUnknownMembers, stsFailure } from '@s2sauth/example-support';
import { S2SClientError, StsTokenError, type PartnerEndpoint, type UserContext } from '@s2sauth/issuer';
import type { Account } from './accounts.js';

/** Lync's conference route, relative to its base URL. */
export const LYNC_CONFERENCES_PATH = '/api/conferences';
/** The scope Exchange asks Lync for to create a conference. */
export const CONFERENCES_WRITE_SCOPE = 'conferences.write';

/** What `POST /me/meetings` takes, and what Lync's `POST /api/conferences` takes. */
export interface MeetingRequest {
  /** 1 to 200 characters. */
  readonly subject: string;
  /** Start (RFC 3339). Default: the next whole minute. */
  readonly start: string;
  /** End (RFC 3339), after `start`, at most 24 hours later. Default: 30 minutes after `start`. */
  readonly end: string;
  /** Addresses of the invitees. Default none. */
  readonly attendees: readonly string[];
}

/** Lync's answer: the conference it created (`id`, `subject`, `organizer`, `start`, `end`, `attendees`), with its join URL. */
export interface ScheduledMeeting {
  readonly joinUrl: string;
  readonly [member: string]: unknown;
}

const MEMBERS = ['subject', 'start', 'end', 'attendees'] as const;
const MINUTE_MS = 60_000;
const DEFAULT_LENGTH_MS = 30 * MINUTE_MS;
/** Lync refuses longer conferences; refusing them here gives the user a 400 instead of a 502. */
const MAX_LENGTH_MS = 24 * 60 * MINUTE_MS;

/**
 * Reads a meeting request from a request body `{ subject, start?, end?, attendees? }` and fills in
 * the defaults, so Lync always gets a complete conference.
 * @throws ApiError 400 naming the member at fault.
 */
export function readMeetingRequest(body: unknown, now: number = Date.now()): MeetingRequest {
  const object = readObject(body, 'The request body', 'a meeting { subject, start?, end?, attendees? }');
  refuseUnknownMembers(object, MEMBERS, 'The meeting');
  const subject = readString(object['subject'], 'subject', { max: 200 });
  const start = object['start'] === undefined ? new Date(Math.ceil(now / MINUTE_MS) * MINUTE_MS).toISOString() : readDateTime(object['start'], 'start');
  const end = object['end'] === undefined ? new Date(Date.parse(start) + DEFAULT_LENGTH_MS).toISOString() : readDateTime(object['end'], 'end');
  const length = Date.parse(end) - Date.parse(start);
  if (length <= 0) throw invalidRequest('end must be after start.');
  if (length > MAX_LENGTH_MS) throw invalidRequest('A meeting lasts at most 24 hours.');
  const attendees =
    object['attendees'] === undefined
      ? []
      : readArray(object['attendees'], 'attendees', 0, 250).map((value, index) => readString(value, `attendees[${index}]`, { max: 320, pattern: ADDRESS }));
  return { subject, start, end, attendees };
}

/** The user claims of an Exchange user: the user name is the UPN, the SMTP and the SIP address. */
export function userContextOf(account: Pick<Account, 'username'>): UserContext {
  return { nameid: account.username, upn: account.username, smtp: account.username, sip: account.username };
}

/** Schedules meetings in one Lync server. */
export class LyncMeetings {
  readonly #lync: PartnerEndpoint;

  constructor(lync: PartnerEndpoint) {
    this.#lync = lync;
  }

  /**
   * Asks Lync to create a conference organized by `account`.
   * @throws ApiError 502 when Lync refuses the call or answers without a join URL, 504 when it
   *   does not answer in time.
   */
  async schedule(account: Account, meeting: MeetingRequest, signal?: AbortSignal): Promise<ScheduledMeeting> {
    let answer: unknown;
    try {
      answer = await this.#lync.json(LYNC_CONFERENCES_PATH, {
        method: 'POST',
        user: userContextOf(account),
        scopes: [CONFERENCES_WRITE_SCOPE],
        json: meeting,
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (error) {
      throw lyncFailure(error, this.#lync.origin);
    }
    if (typeof answer !== 'object' || answer === null || Array.isArray(answer) || !isJoinUrl((answer as { joinUrl?: unknown }).joinUrl)) {
      throw new ApiError(502, 'lync_invalid_answer', 'Lync created no usable meeting: its answer has no joinUrl.');
    }
    return answer as ScheduledMeeting;
  }
}

function isJoinUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

/** A failed call to Lync as the answer Exchange gives its user. */
function lyncFailure(error: unknown, origin: string): ApiError {
  if (error instanceof S2SClientError) {
    if (error.code === 'timeout') return new ApiError(504, 'lync_timeout', `Lync (${origin}) did not answer in time.`);
    if (error.code === 'unauthorized' || error.status === 403) {
      return new ApiError(
        502,
        'lync_refused',
        `Lync (${origin}) refused Exchange's server-to-server call (${error.status ?? 401}); an administrator must check Exchange's partner application registration in Lync.`,
      );
    }
    return new ApiError(502, 'lync_unavailable', `Lync (${origin}) could not schedule the meeting (${error.code}${error.status === undefined ? '' : ` ${error.status}`}).`);
  }
  // With `sts`, the token comes from the authorization server: say so, or the STS looks like Lync failing.
  if (error instanceof StsTokenError) return stsFailure(error, 'Exchange', 'Lync');
  return new ApiError(502, 'lync_unavailable', `Lync (${origin}) could not schedule the meeting.`);
}
