/**
 * `@s2sauth/example-exchange`: the Exchange-like server of the s2sauth demo. It keeps mailboxes
 * (contacts of the unified contact store, archived IM transcripts) for the realm's users, lets Lync
 * read and write them with server-to-server tokens, lets people sign in with a password, and
 * schedules Lync meetings for them with a token on their behalf.
 *
 * @example
 * const exchange = await startExchange({ dataDir: '.data/exchange', realm: 'contoso.com', port: 0,
 *   users: [{ username: 'alice@contoso.com', password: 'correct horse' }], lync: { url: lyncUrl } });
 * await exchange.registry.add({ identity: 'microsoft.lync', metadataUrl: `${lyncUrl}/metadata/json/1`, allowLoopback: true,
 *   scopes: ['contacts.read', 'contacts.write', 'archive.write'] });
 * @packageDocumentation
 */
export { startExchange } from './server.js';
export type { ExchangeOptions, ExchangeServer, ExchangeUserSeed, LyncConnection } from './exchange-options.js';
export type { StsConnection } from '@s2sauth/example-support';
export type { Contact } from './contact.js';
export type { MailItem, TranscriptMessage } from './mail-item.js';
export { EXCHANGE_SCOPES } from './partner-routes.js';
export { LYNC_CONFERENCES_PATH, CONFERENCES_WRITE_SCOPE } from './lync-meetings.js';
