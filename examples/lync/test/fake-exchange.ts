/**
 * A stand-in for Exchange in Lync's tests: a small Express app on loopback that records every
 * request and implements the unified contact store and archive routes minimally. It verifies
 * nothing (Lync's outbound behaviour is what is under test); it reads the user from the token's
 * payload without checking the signature.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';

/** One request the fake received. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  /** Every `Authorization` header, from the raw headers (Node merges duplicates in `headers`). */
  readonly authorization: readonly string[];
  readonly cookie: readonly string[];
  readonly user: string | undefined;
  readonly body: unknown;
  /** The `Idempotency-Key` header, when there was one. */
  readonly idempotencyKey: string | undefined;
}

/** How the fake answers partner routes. */
export type FakeExchangeMode = 'up' | 'refuse' | 'error';

interface ArchiveItem {
  readonly id: string;
  readonly conversationId: string;
  readonly owner: string;
  readonly body: unknown;
}

function userOf(authorization: string | undefined): string | undefined {
  const token = authorization?.replace(/^Bearer /, '') ?? '';
  const payload = token.split('.')[1];
  if (payload === undefined || payload === '') return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const user = claims.smtp ?? claims.nameid;
    return typeof user === 'string' && typeof claims.actortoken === 'string' ? user : undefined;
  } catch {
    return undefined;
  }
}

/** A running fake Exchange. */
export class FakeExchange {
  readonly requests: RecordedRequest[] = [];
  readonly contacts = new Map<string, { id: string; displayName: string; email: string; sip?: string; phone?: string }[]>();
  readonly archive: ArchiveItem[] = [];
  mode: FakeExchangeMode = 'up';
  #server: Server | undefined;
  #port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Requests to partner routes (`/api/...`). */
  get apiRequests(): RecordedRequest[] {
    return this.requests.filter((request) => request.path.startsWith('/api/'));
  }

  contactsOf(user: string): { id: string; displayName: string; email: string }[] {
    let list = this.contacts.get(user);
    if (list === undefined) {
      list = [];
      this.contacts.set(user, list);
    }
    return list;
  }

  /** Starts listening; after {@link stop}, on the same port again. */
  async start(): Promise<void> {
    const app = express();
    app.use(express.json());
    app.use((req, res, next) => {
      const authorization: string[] = [];
      const cookie: string[] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = (req.rawHeaders[i] as string).toLowerCase();
        if (name === 'authorization') authorization.push(req.rawHeaders[i + 1] as string);
        if (name === 'cookie') cookie.push(req.rawHeaders[i + 1] as string);
      }
      this.requests.push({ method: req.method, path: req.path, authorization, cookie, user: userOf(req.headers.authorization), body: req.body, idempotencyKey: req.get('idempotency-key') });
      if (!req.path.startsWith('/api/')) {
        next();
        return;
      }
      if (this.mode === 'refuse') {
        res.status(401).set('WWW-Authenticate', 'Bearer realm="contoso.com", error="invalid_token", error_description="The token is not valid."').json({ error: 'invalid_token' });
        return;
      }
      if (this.mode === 'error') {
        res.status(503).json({ error: 'unavailable' });
        return;
      }
      if (userOf(req.headers.authorization) === undefined) {
        res.status(403).json({ error: 'insufficient_scope' });
        return;
      }
      next();
    });
    app.get('/api/ucs/contacts', (req, res) => {
      res.json(this.contactsOf(userOf(req.headers.authorization) as string));
    });
    app.post('/api/ucs/contacts', (req, res) => {
      const body = req.body as { displayName: string; email: string };
      const contact = { ...body, id: randomUUID() };
      this.contactsOf(userOf(req.headers.authorization) as string).push(contact);
      res.status(201).json(contact);
    });
    app.delete('/api/ucs/contacts/:id', (req, res) => {
      const list = this.contactsOf(userOf(req.headers.authorization) as string);
      const index = list.findIndex((contact) => contact.id === req.params.id);
      if (index < 0) {
        res.status(404).json({ error: 'not_found' });
        return;
      }
      list.splice(index, 1);
      res.status(204).end();
    });
    app.post('/api/archive', (req, res) => {
      const body = req.body as { conversationId: string };
      const owner = userOf(req.headers.authorization) as string;
      const existing = this.archive.find((item) => item.conversationId === body.conversationId);
      if (existing !== undefined) {
        res.status(200).json({ id: existing.id, ...(existing.body as object) });
        return;
      }
      const item = { id: randomUUID(), conversationId: body.conversationId, owner, body: req.body as unknown };
      this.archive.push(item);
      res.status(201).json({ id: item.id, ...(item.body as object) });
    });
    const server = app.listen(this.#port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Stops listening (connections refused until {@link start}). */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
