/**
 * The routes for people, behind a session cookie (express-session: HttpOnly, SameSite=Lax, signed
 * with the secret kept in the data folder): sign-in and sign-out, the user's contacts (local or in
 * Exchange's unified contact store), IM conversations and conferences.
 */
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import session from 'express-session';
import { ApiError, invalidRequest, signInThrottle } from '@s2sauth/example-support';
import type { Accounts, LyncUser } from './accounts.js';
import type { Conferences } from './conferences.js';
import { readNewContact } from './contact.js';
import type { ContactStore } from './contact-store.js';
import type { Conversations } from './conversations.js';
import { bodyObject, emailList, messageText, optionalText, resourceId } from './request-body.js';

declare module 'express-session' {
  interface SessionData {
    /** The signed-in Lync user. */
    userId?: number;
  }
}

/** The name of Lync's session cookie. */
export const SESSION_COOKIE = 'lync.sid';
/** How long a sign-in lasts without activity: 8 hours. */
const SESSION_MAX_AGE_MS = 8 * 60 * 60_000;

/** What the people routes need. */
export interface PeopleRoutesOptions {
  readonly accounts: Accounts;
  readonly contacts: ContactStore;
  readonly conversations: Conversations;
  readonly conferences: Conferences;
  readonly sessionSecret: string;
  readonly sessionStore: session.Store;
  /** Called after a conversation ended with its transcript in the outbox. */
  readonly onTranscriptQueued: () => void;
  /** Whether ended conversations are archived in Exchange (an Exchange partner is configured). */
  readonly archiving: boolean;
}

interface SignedIn {
  readonly user: LyncUser;
}

function userJson(user: LyncUser): { username: string; displayName: string; sip: string } {
  return { username: user.username, displayName: user.displayName, sip: `sip:${user.username}` };
}

/** Express 5 passes a rejected promise to next(); this just keeps the handlers short and typed. */
function route(handler: (req: Request, res: Response, signedIn: SignedIn) => Promise<void> | void): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const signedIn = res.locals.signedIn as SignedIn | undefined;
    if (signedIn === undefined) {
      next(new ApiError(401, 'not_signed_in', 'Sign in first: POST /login.'));
      return;
    }
    await handler(req, res, signedIn);
  };
}

function regenerate(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.regenerate((error: unknown) => (error ? reject(error) : resolve())));
}

function save(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.save((error: unknown) => (error ? reject(error) : resolve())));
}

function destroy(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.destroy((error: unknown) => (error ? reject(error) : resolve())));
}

/** The people routes: `/login`, `/logout`, `/me...`. */
export function peopleRoutes(options: PeopleRoutesOptions): Router {
  const { accounts, contacts, conversations, conferences } = options;
  const router = express.Router();
  router.use(
    session({
      name: SESSION_COOKIE,
      secret: options.sessionSecret,
      store: options.sessionStore,
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax', secure: 'auto', maxAge: SESSION_MAX_AGE_MS, path: '/' },
    }),
  );
  router.use(express.json({ limit: '64kb' }), express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 }));
  router.use((req, res, next) => {
    const userId = req.session.userId;
    const user = userId === undefined ? undefined : accounts.findById(userId);
    if (user !== undefined) res.locals.signedIn = { user } satisfies SignedIn;
    next();
  });

  // Failed sign-ins are limited per user name and per address (429 with Retry-After).
  router.post('/login', ...signInThrottle(), async (req, res) => {
    const body = bodyObject(req.body);
    const { username, password } = body;
    if (typeof username !== 'string' || username === '' || typeof password !== 'string' || password === '') {
      throw invalidRequest('"username" and "password" are required strings.');
    }
    if (username.length > 254 || password.length > 1024) throw new ApiError(401, 'invalid_credentials', 'The user name or password is not right.');
    const user = await accounts.authenticate(username.toLowerCase(), password);
    if (user === undefined) throw new ApiError(401, 'invalid_credentials', 'The user name or password is not right.');
    // A new session id at sign-in: an id planted before sign-in (session fixation) is worth nothing.
    await regenerate(req);
    req.session.userId = user.id;
    await save(req);
    res.json({ user: userJson(user) });
  });

  router.post('/logout', async (req, res) => {
    if (req.session.userId !== undefined) await destroy(req);
    res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'lax', path: '/' });
    res.status(204).end();
  });

  router.get(
    '/me',
    route((_req, res, { user }) => {
      res.json({ user: userJson(user), contactStore: contacts.kind, archiving: options.archiving });
    }),
  );

  router.get(
    '/me/contacts',
    route(async (_req, res, { user }) => {
      res.json(await contacts.list(user));
    }),
  );
  router.post(
    '/me/contacts',
    route(async (req, res, { user }) => {
      res.status(201).json(await contacts.add(user, readNewContact(req.body)));
    }),
  );
  router.delete(
    '/me/contacts/:id',
    route(async (req, res, { user }) => {
      const id = resourceId(req.params.id);
      if (!(await contacts.remove(user, id))) throw new ApiError(404, 'not_found', 'There is no such contact.');
      res.status(204).end();
    }),
  );

  router.get(
    '/me/conversations',
    route((_req, res, { user }) => {
      res.json(conversations.listFor(user));
    }),
  );
  router.post(
    '/me/conversations',
    route((req, res, { user }) => {
      const body = bodyObject(req.body);
      const subject = optionalText(body, 'subject', 200) ?? 'Conversation';
      const others = emailList(body, 'participants', 49, true);
      for (const username of others) {
        if (accounts.findByUsername(username) === undefined) throw invalidRequest(`"participants": ${username} is not a Lync user.`);
      }
      res.status(201).json(conversations.start(user, subject, others));
    }),
  );
  router.get(
    '/me/conversations/:id',
    route((req, res, { user }) => {
      res.json(conversations.getFor(user, resourceId(req.params.id)));
    }),
  );
  router.post(
    '/me/conversations/:id/messages',
    route((req, res, { user }) => {
      const id = resourceId(req.params.id);
      const text = messageText(bodyObject(req.body), 'text', 8000);
      res.status(201).json(conversations.addMessage(user, id, text));
    }),
  );
  router.post(
    '/me/conversations/:id/end',
    route((req, res, { user }) => {
      const ended = conversations.end(user, resourceId(req.params.id), options.archiving);
      if (ended.archive.status === 'pending') options.onTranscriptQueued();
      res.json(ended);
    }),
  );

  router.get(
    '/me/conferences',
    route((_req, res, { user }) => {
      res.json(conferences.listFor(user.username));
    }),
  );
  return router;
}
