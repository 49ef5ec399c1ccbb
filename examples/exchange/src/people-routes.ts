/**
 * The routes for people: sign-in with a user name and password, an HttpOnly session cookie, and
 * the signed-in user's own mailbox and meetings. Nothing here accepts a bearer token, and nothing
 * in the partner routes accepts this cookie.
 */
import express, { Router, type Request, type RequestHandler } from 'express';
import session from 'express-session';
import { ApiError, invalidRequest, readObject, readString, signInThrottle } from '@s2sauth/example-support';
import { accountJson, type Account, type Accounts } from './accounts.js';
import { readMeetingRequest, type LyncMeetings } from './lync-meetings.js';
import type { MailboxStore } from './mailbox-store.js';

declare module 'express-session' {
  interface SessionData {
    /** The signed-in account's id. */
    userId?: number;
  }
}

/** Name of the session cookie. */
export const SESSION_COOKIE = 'exchange.sid';
/** How long a session lasts without activity (8 hours, a working day), in ms. */
const SESSION_MAX_AGE_MS = 8 * 3_600_000;

/** What the people routes need. */
export interface PeopleRoutesOptions {
  readonly accounts: Accounts;
  readonly mailboxes: MailboxStore;
  /** Signs the session cookie. */
  readonly secret: string;
  readonly store: session.Store;
  /** Absent: `POST /me/meetings` answers 503. */
  readonly meetings: LyncMeetings | undefined;
}

/**
 * `POST /login` (JSON or form `{ username, password }` → 200 `{"user"}` and the session cookie,
 * or 401), `POST /logout` (204), `GET /me` (`{"user"}`), `GET /me/contacts`, `GET /me/mail`,
 * `POST /me/meetings` (201 with Lync's conference and its `joinUrl`). Every `/me` route answers
 * 401 without a session.
 */
export function peopleRoutes(options: PeopleRoutesOptions): Router {
  const { accounts, mailboxes, meetings } = options;
  const router = Router();
  router.use(
    session({
      name: SESSION_COOKIE,
      secret: options.secret,
      store: options.store,
      resave: false,
      // No cookie until someone signs in.
      saveUninitialized: false,
      rolling: true,
      cookie: { httpOnly: true, sameSite: 'lax', secure: 'auto', path: '/', maxAge: SESSION_MAX_AGE_MS },
    }),
  );
  const body: RequestHandler[] = [express.json({ limit: '16kb' }), express.urlencoded({ extended: false, limit: '16kb' })];

  const signedIn = (req: Request): Account => {
    const id = req.session.userId;
    const account = id === undefined ? undefined : accounts.get(id);
    if (account === undefined) throw new ApiError(401, 'not_signed_in', 'Sign in first: POST /login with your user name and password.');
    return account;
  };

  // Failed sign-ins are limited per user name and per address (429 with Retry-After).
  router.post('/login', ...body, ...signInThrottle(), async (req, res) => {
    const credentials = readObject(req.body ?? {}, 'The request body', '{ username, password } as JSON or a form');
    const username = readString(credentials['username'], 'username', { max: 320 });
    const password = readString(credentials['password'], 'password', { max: 1024 });
    const account = await accounts.authenticate(username, password);
    if (account === undefined) throw new ApiError(401, 'invalid_credentials', 'The user name or password is not correct.');
    // A new session id at sign-in, so an id planted before it (session fixation) is worthless.
    await new Promise<void>((resolve, reject) => req.session.regenerate((error: unknown) => (error ? reject(error) : resolve())));
    req.session.userId = account.id;
    // Saved before the answer: express-session's own save at the end of the response would send
    // 200 even when the write failed (a full disk), a sign-in acknowledged but not stored.
    await new Promise<void>((resolve, reject) => req.session.save((error: unknown) => (error ? reject(error) : resolve())));
    res.json({ user: accountJson(account) });
  });

  router.post('/logout', (req, res, next) => {
    req.session.destroy((error: unknown) => {
      if (error) {
        next(error);
        return;
      }
      res.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax' });
      res.status(204).end();
    });
  });

  router.get('/me', (req, res) => {
    res.json({ user: accountJson(signedIn(req)) });
  });

  router.get('/me/contacts', (req, res) => {
    res.json(mailboxes.listContacts(signedIn(req).id));
  });

  router.get('/me/mail', (req, res) => {
    res.json(mailboxes.listMail(signedIn(req).id));
  });

  router.post('/me/meetings', express.json({ limit: '64kb' }), async (req, res) => {
    const account = signedIn(req);
    if (meetings === undefined) {
      throw new ApiError(503, 'lync_not_configured', 'Online meetings are not available: this Exchange server has no Lync server configured.');
    }
    if (!req.is('application/json')) throw invalidRequest('Send the meeting as JSON (Content-Type: application/json).');
    const meeting = readMeetingRequest(req.body);
    const controller = new AbortController();
    // Stop waiting for Lync when the user goes away.
    res.on('close', () => controller.abort());
    res.status(201).json(await meetings.schedule(account, meeting, controller.signal));
  });

  return router;
}
