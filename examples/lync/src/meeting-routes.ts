/**
 * The meeting join URL (`GET /meet/<organizer>/<id>`, Lync's simple URL): the meeting it names as
 * JSON (subject, organizer, start and end, attendees), or a JSON 404.
 *
 * Anyone with the URL may see it, as with Lync's join links: the URL is the invitation, sent to
 * attendees who may have no account on this server (any e-mail address can be invited), so it cannot
 * require a sign-in. What protects it is that it cannot be guessed: the meeting id is random (about
 * 50 bits) and must come with its organizer's name; an unknown id and a wrong organizer get the same
 * 404. The answer is not cached and sends no referrer, so the URL does not leak from it.
 */
import { ApiError } from '@s2sauth/example-support';
import express, { type Router } from 'express';
import type { Conferences } from './conferences.js';

/** What the meeting route needs. */
export interface MeetingRoutesOptions {
  readonly conferences: Conferences;
}

/** The `/meet` router (mount it at the root). */
export function meetingRoutes(options: MeetingRoutesOptions): Router {
  const router = express.Router();
  router.get('/meet/:organizer/:id', (req, res) => {
    res.set({ 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' });
    const conference = options.conferences.findByJoinPath(req.params.organizer, req.params.id);
    if (conference === undefined) throw new ApiError(404, 'not_found', 'There is no such meeting.');
    res.json(conference);
  });
  return router;
}
