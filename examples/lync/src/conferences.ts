/**
 * Online meetings (conferences): scheduled by a partner on behalf of a Lync user, who is the
 * organizer, with a join URL on this server.
 */
import { randomBytes } from 'node:crypto';
import type { LyncDatabase } from './database.js';

/** A conference as the routes carry it. */
export interface Conference {
  readonly id: string;
  readonly subject: string;
  /** The organizer's user name. */
  readonly organizer: string;
  /** ISO 8601, UTC. */
  readonly start: string;
  readonly end: string;
  readonly joinUrl: string;
  readonly attendees: readonly string[];
}

/** A conference to schedule. */
export interface NewConference {
  readonly subject: string;
  readonly organizer: string;
  readonly start: string;
  readonly end: string;
  readonly attendees: readonly string[];
  /** Who created it: a partner application identity, for the record. */
  readonly createdBy: string;
}

interface ConferenceRow {
  readonly id: string;
  readonly organizer: string;
  readonly subject: string;
  readonly start_at: string;
  readonly end_at: string;
  readonly join_url: string;
  readonly attendees: string;
}

function toConference(row: ConferenceRow): Conference {
  return {
    id: row.id,
    subject: row.subject,
    organizer: row.organizer,
    start: row.start_at,
    end: row.end_at,
    joinUrl: row.join_url,
    attendees: JSON.parse(row.attendees) as string[],
  };
}

/** The conferences table. */
export class Conferences {
  readonly #db: LyncDatabase;
  readonly #baseUrl: string;

  /** @param baseUrl where join URLs point: `<baseUrl>/meet/<organizer>/<id>`, as Lync's simple URLs. */
  constructor(db: LyncDatabase, baseUrl: string) {
    this.#db = db;
    this.#baseUrl = baseUrl;
  }

  create(conference: NewConference): Conference {
    // Lync meeting ids are short and unguessable enough for a link: 10 base32-like characters.
    const id = randomBytes(8).toString('base64url').replace(/[-_]/g, 'x').slice(0, 10).toUpperCase();
    const local = conference.organizer.slice(0, conference.organizer.indexOf('@'));
    const joinUrl = `${this.#baseUrl}/meet/${encodeURIComponent(local)}/${id}`;
    this.#db
      .prepare('INSERT INTO conferences (id, organizer, subject, start_at, end_at, join_url, attendees, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(id, conference.organizer, conference.subject, conference.start, conference.end, joinUrl, JSON.stringify(conference.attendees), conference.createdBy, Date.now());
    return { id, subject: conference.subject, organizer: conference.organizer, start: conference.start, end: conference.end, joinUrl, attendees: [...conference.attendees] };
  }

  /** Conferences `username` organizes or attends, by start time. */
  listFor(username: string): Conference[] {
    const rows = this.#db
      .prepare(
        'SELECT * FROM conferences c WHERE c.organizer = ? OR EXISTS (SELECT 1 FROM json_each(c.attendees) WHERE value = ?) ORDER BY c.start_at, c.rowid',
      )
      .all(username, username) as ConferenceRow[];
    return rows.map(toConference);
  }

  /**
   * The conference a join URL names: its id and its organizer's local part (`/meet/alice/<id>`), or
   * `undefined` when there is none or the organizer does not match.
   */
  findByJoinPath(organizerLocalPart: string, id: string): Conference | undefined {
    const row = this.#db.prepare('SELECT * FROM conferences WHERE id = ?').get(id) as ConferenceRow | undefined;
    if (row === undefined || row.organizer.slice(0, row.organizer.indexOf('@')) !== organizerLocalPart) return undefined;
    return toConference(row);
  }

  /** Every conference, by start time. */
  listAll(): Conference[] {
    return (this.#db.prepare('SELECT * FROM conferences ORDER BY start_at, rowid').all() as ConferenceRow[]).map(toConference);
  }
}
