/**
 * The routes partner applications call (Exchange scheduling a meeting for a user), authenticated
 * through Passport with `S2SBearerStrategy`, to show the Passport integration beside the plain
 * `s2sAuth` middleware Exchange uses. The Passport instance is this app's own (`new Passport()`),
 * so two servers in one process never share strategies.
 *
 * - `POST /api/conferences`: scope `conferences.write` and a user context; the organizer is the
 *   token's user, who must be a Lync user of the partner's realm.
 * - `GET /api/conferences`: scope `conferences.read`; with a user context, that user's conferences
 *   (a user of the partner's realm); app-only, the conferences organized by users of the partner's
 *   realm.
 *
 * A partner acts only for users of its own realm (`Organization.mayActFor`): a partner trusted in
 * one realm of this server naming a user of another is answered as for an unknown user, 403
 * `unknown_user`, and nothing is written or read.
 *
 * `POST /api/conferences` takes an `Idempotency-Key` (`idempotencyKeys` of the example support),
 * scoped by the partner and the token's user: a repeat with the same key gets the first answer and
 * schedules nothing more.
 */
import { ApiError, idempotencyKeys, invalidRequest, type Organization, type SqliteDatabase } from '@s2sauth/example-support';
import { requireScope, requireUser, s2sErrorHandler, type S2SPrincipal, type S2SUser, type Verifier } from '@s2sauth/middleware';
import { S2SBearerStrategy } from '@s2sauth/middleware/passport';
import express, { type Router } from 'express';
import { Passport } from 'passport';
import type { Accounts } from './accounts.js';
import type { Conferences } from './conferences.js';
import { bodyObject, dateTime, emailList, requiredText } from './request-body.js';

/** The scopes of Lync's partner routes. */
export const LYNC_SCOPES = { conferencesRead: 'conferences.read', conferencesWrite: 'conferences.write' } as const;

/** The longest conference accepted: a day (it bounds nonsense input, not real meetings). */
const MAX_CONFERENCE_MS = 24 * 60 * 60_000;

/** What the partner routes need. */
export interface PartnerRoutesOptions {
  readonly verifier: Verifier;
  readonly accounts: Accounts;
  readonly conferences: Conferences;
  /** The realms of Lync's users: which partner may act for whom. */
  readonly organization: Organization;
  /** The server's database, for the `Idempotency-Key` records. */
  readonly db: SqliteDatabase;
}

/** The Lync user a token's user claims name: its SIP address, SMTP address, UPN or name id. */
function lyncUsernameOf(user: S2SUser): string | undefined {
  for (const claim of [user.sip, user.smtp, user.upn, user.nameid]) {
    if (typeof claim === 'string' && claim !== '') return claim.toLowerCase().replace(/^sip:/, '');
  }
  return undefined;
}

/** The `/api` router (mount it at `/api`). */
export function partnerRoutes(options: PartnerRoutesOptions): Router {
  const { accounts, conferences, organization } = options;

  /** The user name a user-context call acts for, if the partner (of `principal.realm`) may act for that user. */
  const actingFor = (principal: S2SPrincipal): string | undefined => {
    const username = principal.user === undefined ? undefined : lyncUsernameOf(principal.user);
    return username !== undefined && organization.mayActFor(principal.realm, username) ? username : undefined;
  };

  const passport = new Passport();
  passport.use('s2s', new S2SBearerStrategy({ verifier: options.verifier, name: 's2s' }));
  // failWithError: a request without a token goes to s2sErrorHandler, which answers it as s2sAuth
  // does (challenge and JSON body), not with Passport's text/plain "Unauthorized".
  const authenticate = passport.authenticate('s2s', { session: false, failWithError: true }) as express.RequestHandler;

  // Keys are per partner and Lync user (the user's name id when the partner may not act for them: the route refuses it).
  const idempotent = idempotencyKeys({
    db: options.db,
    scope: (req) => {
      const principal = req.s2s as S2SPrincipal;
      return JSON.stringify([principal.partner, actingFor(principal) ?? principal.user?.nameid]);
    },
  });

  const router = express.Router();
  // Parsed before authentication, so that a token smuggled in a JSON body is found and refused.
  router.use(express.json({ limit: '64kb' }));

  router.post('/conferences', authenticate, requireUser(), requireScope(LYNC_SCOPES.conferencesWrite), idempotent, (req, res) => {
    const principal = req.s2s as S2SPrincipal;
    const username = actingFor(principal);
    const organizer = username === undefined ? undefined : accounts.findByUsername(username);
    if (organizer === undefined) {
      throw new ApiError(403, 'unknown_user', 'The user the token acts for is not a Lync user of the partner\'s realm, so they cannot organize a conference here.');
    }
    const body = bodyObject(req.body);
    const subject = requiredText(body, 'subject', 200);
    const start = dateTime(body, 'start');
    const end = dateTime(body, 'end');
    const length = Date.parse(end) - Date.parse(start);
    if (length <= 0) throw invalidRequest('"end" must be after "start".');
    if (length > MAX_CONFERENCE_MS) throw invalidRequest('A conference lasts at most 24 hours.');
    const attendees = emailList(body, 'attendees', 250);
    res.status(201).json(conferences.create({ subject, organizer: organizer.username, start, end, attendees, createdBy: principal.partner }));
  });

  router.get('/conferences', authenticate, requireScope(LYNC_SCOPES.conferencesRead), (req, res) => {
    const principal = req.s2s as S2SPrincipal;
    if (principal.user === undefined) {
      // App-only: the conferences of the partner's realm, never another realm's (a realm is a
      // security boundary, protocol.md section 1).
      res.json(conferences.listAll().filter((conference) => organization.mayActFor(principal.realm, conference.organizer)));
      return;
    }
    const username = actingFor(principal);
    if (username === undefined) throw new ApiError(403, 'unknown_user', 'The user the token acts for is not a user of the partner\'s realm.');
    res.json(conferences.listFor(username));
  });

  // Answers the BearerErrors Passport's error() path carries, exactly as s2sAuth would.
  router.use(s2sErrorHandler());
  return router;
}
