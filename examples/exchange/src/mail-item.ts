/**
 * A mail item of the archive: an IM conversation's transcript, delivered by Lync when the
 * conversation ends (Lync's "Exchange archiving" integration), one per conversation and mailbox.
 */
import { readArray, readDateTime, readObject, readString, refuseUnknownMembers } from '@s2sauth/example-support';

/** One instant message of a transcript. */
export interface TranscriptMessage {
  /** The sender's address. */
  readonly from: string;
  readonly text: string;
  /** When it was sent (RFC 3339), when known. */
  readonly sentAt?: string;
}

/** A mail item as stored and answered. */
export interface MailItem {
  readonly id: string;
  /** Lync's conversation id: the idempotency key of the delivery. */
  readonly conversationId: string;
  readonly subject: string;
  /** Addresses of the participants. */
  readonly participants: readonly string[];
  readonly messages: readonly TranscriptMessage[];
  /** When the archive received it (RFC 3339), or the time the sender gave. */
  readonly receivedAt: string;
}

/** What a sender may set on a mail item; `receivedAt` defaults to the time of delivery. */
export interface MailItemInput {
  readonly conversationId: string;
  readonly subject: string;
  readonly participants: readonly string[];
  readonly messages: readonly TranscriptMessage[];
  readonly receivedAt?: string;
}

/** The most messages one transcript may hold. */
export const MAX_TRANSCRIPT_MESSAGES = 5000;

const MEMBERS = ['id', 'conversationId', 'subject', 'participants', 'messages', 'receivedAt'] as const;
const MESSAGE_MEMBERS = ['from', 'text', 'sentAt'] as const;

/**
 * Reads a mail item from a request body: `conversationId`, `participants` (1 to 500 strings) and
 * `messages` (0 to 5000 `{ from, text, sentAt? }`) required, `subject` optional (default ""),
 * `receivedAt` optional. An `id` member is ignored: the archive assigns ids.
 * @throws ApiError 400 naming the member at fault.
 */
export function readMailItemInput(body: unknown): MailItemInput {
  const object = readObject(body, 'The request body', 'a mail item { conversationId, subject, participants, messages, receivedAt? }');
  refuseUnknownMembers(object, MEMBERS, 'The mail item');
  const conversationId = readString(object['conversationId'], 'conversationId', { max: 256 });
  const subject = object['subject'] === undefined ? '' : readString(object['subject'], 'subject', { max: 1024, allowEmpty: true });
  const participants = readArray(object['participants'], 'participants', 1, 500).map((value, index) =>
    readString(value, `participants[${index}]`, { max: 324 }),
  );
  const messages = readArray(object['messages'], 'messages', 0, MAX_TRANSCRIPT_MESSAGES).map((value, index) => {
    const name = `messages[${index}]`;
    const message = readObject(value, name, '{ from, text, sentAt? }');
    refuseUnknownMembers(message, MESSAGE_MEMBERS, name);
    const from = readString(message['from'], `${name}.from`, { max: 324 });
    const text = readString(message['text'], `${name}.text`, { max: 65536, allowEmpty: true, multiline: true });
    const sentAt = message['sentAt'] === undefined || message['sentAt'] === null ? undefined : readDateTime(message['sentAt'], `${name}.sentAt`);
    return sentAt === undefined ? { from, text } : { from, text, sentAt };
  });
  const receivedAt = object['receivedAt'] === undefined || object['receivedAt'] === null ? undefined : readDateTime(object['receivedAt'], 'receivedAt');
  return { conversationId, subject, participants, messages, ...(receivedAt === undefined ? {} : { receivedAt }) };
}
