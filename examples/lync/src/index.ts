/**
 * `@s2sauth/example-lync`: a Lync-like conferencing and IM server, the half of the s2sauth demo
 * pair that trusts Exchange as a partner application (Passport integration) and calls Exchange
 * with tokens for the unified contact store and transcript archiving.
 *
 * ```ts
 * const lync = await startLync({ dataDir: '.data/lync', realm: 'contoso.com', port: 0,
 *   users: [{ username: 'alice@contoso.com', password: 'secret' }],
 *   exchange: { url: 'http://127.0.0.1:4402' } });
 * await lync.registry.add({ identity: 'microsoft.exchange', metadataUrl: 'http://127.0.0.1:4402/metadata/json/1',
 *   allowLoopback: true, scopes: ['conferences.read', 'conferences.write'] });
 * ```
 * @packageDocumentation
 */
export { startLync, type LyncOptions, type LyncServer } from './server.js';
export type { Contact, NewContact } from './contact.js';
export type { Conference } from './conferences.js';
export type { ArchiveStatus, ConversationMessage, ConversationView } from './conversations.js';
export type { Transcript } from './exchange-partner.js';
export type { StsConnection } from '@s2sauth/example-support';
export type { AuditSink } from '@s2sauth/middleware';
