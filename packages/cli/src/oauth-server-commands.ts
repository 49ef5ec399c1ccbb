/**
 * `s2sauth oauth-server ...`: the authorization servers (STSes) a server trusts, as Lync's
 * `New-`, `Set-`, `Get-` and `Remove-CsOAuthServer` manage them, through `PartnerRegistry`: the
 * metadata document is fetched and checked before anything is stored.
 */
import { PartnerRegistryError, type OAuthServer, type OAuthServerChanges, type PartnerRegistry } from '@s2sauth/middleware';
import { Option, type Command } from 'commander';
import { caseHint, CliError, CommandContext, parseUrl, usageError, type CliIo, type Report } from './context.js';
import { details, isoTime, table, yesNo } from './output.js';

/** An OAuth server as `--json` shows it, times in ISO 8601. */
export interface OAuthServerView {
  readonly identity: string;
  readonly metadataUrl: string;
  /** The STS issuer id its document states, `00000001-0000-0000-c000-000000000000@<realm>`. */
  readonly issuer: string;
  /** The realm it is trusted for, or `*`. */
  readonly realm: string;
  readonly allowLoopback: boolean;
  readonly enabled: boolean;
  /** The token endpoint its document advertised, when this command read the document. */
  readonly authorizationUri?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** The `--json` view of `server`. */
export function oauthServerView(server: OAuthServer): OAuthServerView {
  return {
    identity: server.identity,
    metadataUrl: server.metadataUrl,
    issuer: server.issuer,
    realm: server.realm,
    allowLoopback: server.allowLoopback === true,
    enabled: server.enabled,
    ...(server.authorizationUri === undefined ? {} : { authorizationUri: server.authorizationUri }),
    createdAt: isoTime(server.createdAt),
    updatedAt: isoTime(server.updatedAt),
  };
}

function serverReport(server: OAuthServer, verb?: string): Report {
  const heading = verb === undefined ? '' : `${verb} OAuth server ${server.identity}\n`;
  const text = details([
    ['identity', server.identity],
    ['metadata URL', `${server.metadataUrl}${server.allowLoopback === true ? ' (loopback allowed)' : ''}`],
    ['issuer', server.issuer],
    ['realm', server.realm === '*' ? '* (every realm this server serves)' : server.realm],
    ['enabled', yesNo(server.enabled)],
    ['token endpoint', server.authorizationUri],
    ['created', isoTime(server.createdAt)],
    ['updated', isoTime(server.updatedAt)],
  ]);
  return { json: oauthServerView(server), text: `${heading}${text}` };
}

/** The refusal of an unknown identity, naming a registered one that differs only in letter case. */
function notFound(registry: PartnerRegistry, identity: string): CliError {
  return new CliError(`no OAuth server named "${identity}"${caseHint(identity, registry.listOAuthServers().map((server) => server.identity))}`);
}

async function onServer<T>(registry: PartnerRegistry, identity: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof PartnerRegistryError && error.code === 'not_found') throw notFound(registry, identity);
    throw error;
  }
}

/** The options of `oauth-server add` and `oauth-server set`, as commander hands them over. */
interface ServerFlags {
  readonly metadataUrl?: string;
  readonly realm?: string;
  readonly allowLoopback?: boolean;
  readonly enabled?: boolean;
  readonly disabled?: boolean;
}

function serverChanges(flags: ServerFlags): OAuthServerChanges {
  return {
    ...(flags.metadataUrl === undefined ? {} : { metadataUrl: flags.metadataUrl }),
    ...(flags.realm === undefined ? {} : { realm: flags.realm }),
    ...(flags.allowLoopback === undefined ? {} : { allowLoopback: flags.allowLoopback }),
    ...(flags.disabled === true ? { enabled: false } : flags.enabled === true ? { enabled: true } : {}),
  };
}

const REALM_HELP = 'the realm the STS is trusted for (a lowercase DNS name or GUID), or * for every realm this server serves';

/** Adds `oauth-server` and its subcommands to `program`. */
export function registerOAuthServerCommands(program: Command, io: CliIo): void {
  const servers = program.command('oauth-server').description('authorization servers (STSes) this server trusts (New-, Set-, Get-, Remove-CsOAuthServer)');

  servers
    .command('add')
    .description('register an OAuth server by its metadata URL, fetched and checked first')
    .argument('<identity>', 'the registration name, e.g. microsoft.sts: 1 to 64 of a-z 0-9 . _ -')
    .requiredOption('--metadata-url <url>', "the STS's metadata document: https, or http to a loopback host with --allow-loopback", parseUrl)
    .option('--realm <realm>', `${REALM_HELP} (default: the realm of the document's issuer)`)
    .option('--allow-loopback', 'allow a loopback host and plain http (development only)')
    .option('--disabled', 'register the server disabled')
    .addHelpText(
      'after',
      `
The document must state the issuer 00000001-0000-0000-c000-000000000000@<realm>. At most one server
per realm (and one for *). Creates the registry file if missing.

Example:
  s2sauth oauth-server add microsoft.sts --metadata-url http://127.0.0.1:4400/<tenant>/metadata/json/1 --allow-loopback`,
    )
    .action(async (identity: string, flags: ServerFlags, command: Command) => {
      const context = new CommandContext(io, command);
      const added = await context.withRegistry('create', (registry) =>
        registry.addOAuthServer({ identity, ...serverChanges(flags), metadataUrl: flags.metadataUrl as string }),
      );
      context.print(serverReport(added, 'added'));
    });

  servers
    .command('set')
    .description('change an OAuth server: only the options given change')
    .argument('<identity>', 'the registration name')
    .option('--metadata-url <url>', 'a new metadata URL, fetched and checked now', parseUrl)
    .option('--realm <realm>', `${REALM_HELP}; the document is checked again`)
    .option('--allow-loopback', 'allow a loopback host and plain http (development only)')
    .option('--no-allow-loopback', 'no longer allow a loopback metadata URL')
    .addOption(new Option('--enabled', 'enable the server').conflicts('disabled'))
    .option('--disabled', 'disable the server')
    .action(async (identity: string, flags: ServerFlags, command: Command) => {
      const context = new CommandContext(io, command);
      const changes = serverChanges(flags);
      if (Object.keys(changes).length === 0) throw usageError('nothing to change: give at least one option (see s2sauth oauth-server set --help)');
      const updated = await context.withRegistry('write', (registry) => onServer(registry, identity, () => registry.updateOAuthServer(identity, changes)));
      context.print(serverReport(updated, 'changed'));
    });

  servers
    .command('get')
    .description('show one OAuth server')
    .argument('<identity>', 'the registration name')
    .action(async (identity: string, _flags: object, command: Command) => {
      const context = new CommandContext(io, command);
      const found = await context.withRegistry('read', (registry) => registry.getOAuthServer(identity) ?? Promise.reject(notFound(registry, identity)));
      context.print(serverReport(found));
    });

  servers
    .command('list')
    .description('list every OAuth server')
    .action(async (_flags: object, command: Command) => {
      const context = new CommandContext(io, command);
      const list = await context.withRegistry('read', (registry) => registry.listOAuthServers());
      context.print({
        json: list.map(oauthServerView),
        text: table(
          ['IDENTITY', 'REALM', 'ENABLED', 'ISSUER', 'METADATA URL'],
          list.map((server) => [server.identity, server.realm, yesNo(server.enabled), server.issuer, server.metadataUrl]),
          'no OAuth servers',
        ),
      });
    });

  servers
    .command('remove')
    .description('remove an OAuth server: none of its tokens are accepted any more')
    .argument('<identity>', 'the registration name')
    .action(async (identity: string, _flags: object, command: Command) => {
      const context = new CommandContext(io, command);
      await context.withRegistry('write', (registry) => {
        if (!registry.removeOAuthServer(identity)) throw notFound(registry, identity);
      });
      context.print({ json: { removed: true, identity }, text: `removed OAuth server ${identity}` });
    });

  for (const [name, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    servers
      .command(name)
      .description(enabled ? 'enable an OAuth server' : 'disable an OAuth server: its tokens are refused from the next request on')
      .argument('<identity>', 'the registration name')
      .action(async (identity: string, _flags: object, command: Command) => {
        const context = new CommandContext(io, command);
        const changed = await context.withRegistry('write', (registry) =>
          onServer(registry, identity, () => (enabled ? registry.enableOAuthServer(identity) : registry.disableOAuthServer(identity))),
        );
        context.print(serverReport(changed, enabled ? 'enabled' : 'disabled'));
      });
  }
}
