/**
 * `@s2sauth/cli`: the `s2sauth` admin command (partner applications, OAuth servers and STS clients
 * in a server's SQLite registry file), runnable in-process through {@link runCli}.
 * @packageDocumentation
 */
export { runCli } from './cli.js';
export { CliError, STORE_VARIABLE, type CliErrorCode, type CliIo, type CliOutput } from './context.js';
export { clientView, parseClientId, parseGrant, parseHostName, type ClientId, type ClientView } from './client-commands.js';
export { oauthServerView, type OAuthServerView } from './oauth-server-commands.js';
export { partnerView, type PartnerView } from './partner-commands.js';
export type { CertificateSummary } from './output.js';
