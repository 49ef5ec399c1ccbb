/**
 * The routes partner applications call (Lync, with a user-context token): the unified contact
 * store and the IM archive of the token user's mailbox. Mounted behind `s2sAuth`, so every request
 * here carries a verified principal; each route then demands a user context and its scope.
 * No session middleware runs here, and `s2sAuth` strips any cookie from these responses.
 *
 * The write routes take an `Idempotency-Key` (`idempotencyKeys` of the example support), scoped
 * by the partner and the token's user: a contact `POST` repeated after a timeout with the same key
 * is answered with the first answer and stores nothing more.
 */
import express, { Router, type Request, type RequestHandler } from 'express';
import { ApiError, idempotencyKeys, type SqliteDatabase } from '@s2sauth/example-support';
import { requireScope, requireUser } from '@s2sauth/middleware';
import type { Account, Accounts } from './accounts.js';
import { readContactInput } from './contact.js';
import { readMailItemInput } from './mail-item.js';
import type { MailboxStore } from './mailbox-store.js';

/** The scopes of the partner routes. */
export const EXCHANGE_SCOPES = {
  contactsRead: 'contacts.read',
  contactsWrite: 'contacts.write',
  archiveRead: 'archive.read',
  archiveWrite: 'archive.write',
} as const;

/** Largest JSON body a partner may send (a long IM transcript). */
const MAX_BODY = '2mb';

/** What the partner routes need. */
export interface PartnerRoutesOptions {
  readonly accounts: Accounts;
  readonly mailboxes: MailboxStore;
  /** The server's database, for the `Idempotency-Key` records. */
  readonly db: SqliteDatabase;
}

/**
 * The partner routes, to mount after `s2sAuth` on `/api`:
 * `GET /ucs/contacts` (contacts.read), `POST /ucs/contacts`, `PUT` and `DELETE /ucs/contacts/:id`
 * (contacts.write), `POST /archive` (archive.write, idempotent on `conversationId`: 201 the first
 * time, 200 with the same item after), `GET /archive` (archive.read). The writes take an
 * `Idempotency-Key`, scoped by partner and user.
 */
export function partnerRoutes(options: PartnerRoutesOptions): Router {
  const { accounts, mailboxes } = options;
  const router = Router();
  const json = express.json({ limit: MAX_BODY, type: ['application/json', 'application/*+json'] });
  const guard = (scope: string): RequestHandler[] => [requireUser(), requireScope(scope)];

  /** The mailbox owner: the verifier's resolveUser hook accepted the user for this partner, so this finds one. */
  const owner = (req: Request): Account => {
    const account = req.s2s?.user === undefined ? undefined : accounts.forPartnerUser(req.s2s.user, req.s2s.realm);
    // Only if the user was removed between verification and here.
    if (account === undefined) throw new ApiError(403, 'unknown_user', 'The token\'s user has no mailbox on this server.');
    return account;
  };

  // Keys are per partner and mailbox. After the guards (every request here has a partner and a user) and the body parser.
  const idempotent = idempotencyKeys({ db: options.db, scope: (req) => JSON.stringify([req.s2s?.partner, owner(req).id]) });

  router.get('/ucs/contacts', ...guard(EXCHANGE_SCOPES.contactsRead), (req, res) => {
    res.json(mailboxes.listContacts(owner(req).id));
  });

  router.post('/ucs/contacts', ...guard(EXCHANGE_SCOPES.contactsWrite), json, idempotent, (req, res) => {
    const input = readContactInput(req.body);
    res.status(201).json(mailboxes.createContact(owner(req).id, input));
  });

  router.put('/ucs/contacts/:id', ...guard(EXCHANGE_SCOPES.contactsWrite), json, idempotent, (req, res) => {
    const id = req.params['id'] as string;
    const input = readContactInput(req.body, id);
    const contact = mailboxes.replaceContact(owner(req).id, id, input);
    if (contact === undefined) throw contactNotFound();
    res.json(contact);
  });

  router.delete('/ucs/contacts/:id', ...guard(EXCHANGE_SCOPES.contactsWrite), idempotent, (req, res) => {
    if (!mailboxes.deleteContact(owner(req).id, req.params['id'] as string)) throw contactNotFound();
    res.status(204).end();
  });

  router.post('/archive', ...guard(EXCHANGE_SCOPES.archiveWrite), json, idempotent, (req, res) => {
    const input = readMailItemInput(req.body);
    const { item, created } = mailboxes.archive(owner(req).id, input);
    res.status(created ? 201 : 200).json(item);
  });

  router.get('/archive', ...guard(EXCHANGE_SCOPES.archiveRead), (req, res) => {
    res.json(mailboxes.listMail(owner(req).id));
  });

  return router;
}

function contactNotFound(): ApiError {
  return new ApiError(404, 'not_found', 'The mailbox has no contact with this id.');
}
