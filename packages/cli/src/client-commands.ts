/**
 * `s2sauth client ...`: an STS's clients (service principals, protocol.md section 6), as ACS's
 * `New-`, `Set-`, `Get-` and `Remove-MsolServicePrincipal` with their credentials and SPNs manage
 * them, in the STS's registry file (`ClientStore`).
 *
 * The store checks only the structure of a record (and that a credential belongs to one realm:
 * `credential_shared`), so the rules are checked here before anything is written: the principal
 * is a lowercase GUID and the realm a realm; each certificate is an acceptable signing certificate
 * now (the same checks as a partner's pinned certificate); a metadata URL is fetched and its
 * document checked with the same safe fetch the STS uses for it; host names are authorities or
 * `*.domain` patterns; grants name a resource GUID and scope tokens.
 */
import { fetchMetadata, MetadataFetchError } from '@s2sauth/discovery';
import {
  isAuthority,
  isPrincipalId,
  isRealm,
  isScopeToken,
  MetadataError,
  parseMetadataDocument,
  signingKeyFromCertificate,
} from '@s2sauth/protocol';
import type { ClientGrant, ClientInput, ClientRecord, ClientStore } from '@s2sauth/store';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { readCertificateFiles } from './certificate-files.js';
import { CliError, CommandContext, parseUrl, usageError, type CliIo, type Report } from './context.js';
import { certificateLines, describeCertificates, details, isoTime, listText, summarizeCertificate, table, yesNo, type CertificateSummary } from './output.js';

/** A client named on the command line: `<principal>@<realm>`. */
export interface ClientId {
  readonly principal: string;
  readonly realm: string;
}

/**
 * Parses `<principal>@<realm>` (a lowercase GUID and a lowercase DNS name or GUID).
 * @throws InvalidArgumentError (a usage error) otherwise.
 */
export function parseClientId(value: string): ClientId {
  const at = value.lastIndexOf('@');
  const principal = value.slice(0, Math.max(at, 0));
  const realm = value.slice(at + 1);
  if (at < 0 || !isPrincipalId(principal) || !isRealm(realm)) {
    throw new InvalidArgumentError('expected <principal>@<realm>: a lowercase GUID, then a lowercase DNS name or GUID, e.g. 00000002-0000-0ff1-ce00-000000000000@contoso.com');
  }
  return { principal, realm };
}

/** A scope token (RFC 6749 section 3.3) without the comma that separates scopes in a grant. */
const GRANT = /^([^=]*)=(.*?)(\+delegation)?$/;

/**
 * Parses one `--grant` value, `<resource-guid>=<scope>,<scope>[+delegation]` (no scopes after
 * `=` is a grant of the resource with an empty `scp`), and appends it to `previous`.
 * @throws InvalidArgumentError (a usage error) for anything else, or a resource granted twice.
 */
export function parseGrant(value: string, previous: readonly ClientGrant[] | undefined): ClientGrant[] {
  const match = GRANT.exec(value);
  const resource = match?.[1] ?? '';
  if (match === null || !isPrincipalId(resource)) {
    throw new InvalidArgumentError('expected <resource-guid>=<scope>,<scope>[+delegation], e.g. 00000002-0000-0ff1-ce00-000000000000=contacts.read,contacts.write+delegation');
  }
  const list = match[2] ?? '';
  const scopes = list === '' ? [] : list.split(',');
  for (const scope of scopes) {
    if (!isScopeToken(scope) || scope.includes(',')) throw new InvalidArgumentError('each scope is one word of visible ASCII characters, without spaces, quotes, backslashes or commas');
  }
  if (new Set(scopes).size !== scopes.length) throw new InvalidArgumentError('a scope is listed twice');
  if (previous?.some((grant) => grant.resource === resource) === true) throw new InvalidArgumentError(`the resource ${resource} is granted twice`);
  return [...(previous ?? []), { resource, scopes, delegation: match[3] !== undefined }];
}

/**
 * Parses one `--host-name` value: an authority `host[:port]`, or `*.domain[:port]` for every host
 * below `domain` (see the STS's host name rules), and appends it to `previous`.
 * @throws InvalidArgumentError (a usage error) otherwise, or for a name given twice.
 */
export function parseHostName(value: string, previous: readonly string[] | undefined): string[] {
  const pattern = value.startsWith('*.') ? value.slice(2) : value;
  if (!isAuthority(pattern)) {
    throw new InvalidArgumentError('expected a host name with an optional port (mail.contoso.com, 127.0.0.1:4402) or *.domain for every host below it');
  }
  if (previous?.includes(value) === true) throw new InvalidArgumentError(`${value} is listed twice`);
  return [...(previous ?? []), value];
}

/** The text of a grant, in the syntax of `--grant`. */
function grantText(grant: ClientGrant): string {
  return `${grant.resource}=${grant.scopes.join(',')}${grant.delegation ? '+delegation' : ''}`;
}

/** A client as `--json` shows it: certificates as thumbprints, times in ISO 8601. */
export interface ClientView {
  /** `<principal>@<realm>`, the client's `client_id`. */
  readonly clientId: string;
  readonly principal: string;
  readonly realm: string;
  readonly displayName?: string;
  readonly certificates: readonly CertificateSummary[];
  readonly metadataUrl?: string;
  readonly allowLoopback: boolean;
  readonly hostNames: readonly string[];
  readonly grants: readonly ClientGrant[];
  readonly enabled: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** The `--json` view of `client`. */
export function clientView(client: ClientRecord): ClientView {
  return {
    clientId: `${client.principal}@${client.realm}`,
    principal: client.principal,
    realm: client.realm,
    ...(client.displayName === undefined ? {} : { displayName: client.displayName }),
    certificates: client.certificates.map(summarizeCertificate),
    ...(client.metadataUrl === undefined ? {} : { metadataUrl: client.metadataUrl }),
    allowLoopback: client.allowLoopback === true,
    hostNames: client.hostNames,
    grants: client.grants,
    enabled: client.enabled,
    createdAt: isoTime(client.createdAt),
    updatedAt: isoTime(client.updatedAt),
  };
}

function metadataText(client: ClientRecord): string | undefined {
  if (client.metadataUrl === undefined) return undefined;
  return `${client.metadataUrl}${client.allowLoopback === true ? ' (loopback allowed)' : ''}`;
}

function clientReport(client: ClientRecord, verb?: string): Report {
  const clientId = `${client.principal}@${client.realm}`;
  const heading = verb === undefined ? '' : `${verb} client ${clientId}\n`;
  const text = details([
    ['client id', clientId],
    ['display name', client.displayName],
    ['certificates', certificateLines(client.certificates)],
    ['metadata URL', metadataText(client)],
    ['host names', client.hostNames],
    ['grants', client.grants.map(grantText)],
    ['enabled', yesNo(client.enabled)],
    ['created', isoTime(client.createdAt)],
    ['updated', isoTime(client.updatedAt)],
  ]);
  return { json: clientView(client), text: `${heading}${text}` };
}

function notFound(id: ClientId): CliError {
  return new CliError(`no client ${id.principal}@${id.realm} is registered`);
}

/**
 * The certificates in the files at `paths`, each checked as a signing certificate acceptable now
 * and returned as PEM, without repeats.
 * @throws CliError naming the file whose certificate is refused.
 */
function checkedCertificates(paths: readonly string[]): string[] {
  const pems = new Map<string, string>();
  for (const path of paths) {
    for (const text of readCertificateFiles([path])) {
      try {
        const key = signingKeyFromCertificate(text, Date.now());
        pems.set(key.x5t, key.certificate.toString());
      } catch (error) {
        if (error instanceof MetadataError) throw new CliError(`--certificate ${path}: ${error.message}`);
        throw error;
      }
    }
  }
  return [...pems.values()];
}

/**
 * Fetches the metadata document at `url` the way the STS will (https, or http to loopback with
 * `allowLoopback`; address checks, no redirects, size and time limits) and checks that it is a
 * valid signing-key document with at least one key valid now.
 * @throws CliError when it cannot be fetched or is not such a document.
 */
async function checkMetadataUrl(url: string, allowLoopback: boolean): Promise<void> {
  try {
    parseMetadataDocument(await fetchMetadata(url, { allowLoopback }), { now: Date.now() });
  } catch (error) {
    if (error instanceof MetadataFetchError) throw new CliError(`--metadata-url: the document could not be fetched: ${error.message}`);
    if (error instanceof MetadataError) throw new CliError(`--metadata-url: ${error.message}`);
    throw error;
  }
}

/** The options of `client add` and `client set`, as commander hands them over (`false`: `--no-...`). */
interface ClientFlags {
  readonly certificate?: readonly string[] | false;
  readonly metadataUrl?: string | false;
  readonly allowLoopback?: boolean;
  readonly hostName?: readonly string[] | false;
  readonly grant?: readonly ClientGrant[] | false;
  readonly displayName?: string | false;
  readonly enabled?: boolean;
  readonly disabled?: boolean;
}

/** A value given on the command line, `false` to clear, or `undefined` to keep `current`. */
function given<T>(flag: T | false | undefined, current: T, cleared: T): T {
  return flag === undefined ? current : flag === false ? cleared : flag;
}

/** A metadata URL to fetch and check before it is stored, with its loopback permission. */
interface MetadataCheck {
  readonly url: string;
  readonly allowLoopback: boolean;
}

/**
 * The record `flags` turn `existing` (or, for `add`, nothing) into, with `certificates` the
 * checked contents of `--certificate`, and the metadata URL to fetch and check first when it or
 * its loopback permission changed. Throws a usage error for a loopback permission without a URL.
 */
function clientInput(
  id: ClientId,
  flags: ClientFlags,
  certificates: readonly string[] | undefined,
  existing: ClientRecord | undefined,
): { readonly input: ClientInput; readonly check: MetadataCheck | undefined } {
  const metadataUrl = given(flags.metadataUrl, existing?.metadataUrl, undefined);
  // Like a partner's: the loopback permission stays with the URL until it is dropped.
  const allowLoopback = flags.allowLoopback ?? (metadataUrl === undefined ? undefined : existing?.allowLoopback);
  if (allowLoopback !== undefined && metadataUrl === undefined) throw usageError('--allow-loopback applies only to a --metadata-url');
  const check =
    metadataUrl !== undefined && (metadataUrl !== existing?.metadataUrl || (allowLoopback === true) !== (existing?.allowLoopback === true))
      ? { url: metadataUrl, allowLoopback: allowLoopback === true }
      : undefined;
  const displayName = given(flags.displayName, existing?.displayName, undefined);
  const enabled = flags.disabled === true ? false : flags.enabled === true ? true : (existing?.enabled ?? true);
  const input: ClientInput = {
    principal: id.principal,
    realm: id.realm,
    ...(displayName === undefined ? {} : { displayName }),
    certificates: certificates ?? given(flags.certificate === false ? false : undefined, existing?.certificates ?? [], []),
    ...(metadataUrl === undefined ? {} : { metadataUrl }),
    ...(allowLoopback === true ? { allowLoopback } : {}),
    hostNames: given(flags.hostName, existing?.hostNames ?? [], []),
    grants: given(flags.grant, existing?.grants ?? [], []),
    enabled,
  };
  return { input, check };
}

/**
 * Adds (`adding`) or changes the client `id` as `flags` say. Certificates are read and checked
 * and a new metadata URL fetched first; then the flags are applied again, in one write with the
 * read of the current record (`modifyClient`), so that a change another command made meanwhile
 * to other fields is kept. Refused (exit 1) only when the metadata URL or its loopback permission
 * changed meanwhile so that what was checked is not what would be stored.
 */
async function writeClient(store: ClientStore, id: ClientId, flags: ClientFlags, adding: boolean): Promise<ClientRecord> {
  const certificates = Array.isArray(flags.certificate) ? checkedCertificates(flags.certificate) : undefined;
  const expectExistence = (current: ClientRecord | undefined): void => {
    if (adding && current !== undefined) {
      throw new CliError(`client ${id.principal}@${id.realm} is already registered; change it with s2sauth client set`);
    }
    if (!adding && current === undefined) throw notFound(id);
  };
  const existing = store.getClient(id.principal, id.realm);
  expectExistence(existing);
  const first = clientInput(id, flags, certificates, existing);
  if (first.check !== undefined) await checkMetadataUrl(first.check.url, first.check.allowLoopback);
  return store.modifyClient(id.principal, id.realm, (current) => {
    expectExistence(current);
    const again = clientInput(id, flags, certificates, current);
    if (again.check !== undefined && (again.check.url !== first.check?.url || again.check.allowLoopback !== first.check.allowLoopback)) {
      throw new CliError(`client ${id.principal}@${id.realm} had its metadata URL changed meanwhile; try again`);
    }
    return again.input;
  }) as ClientRecord;
}

/** Adds `--certificate`, `--metadata-url`, `--allow-loopback`, `--host-name`, `--grant` and `--display-name`. */
function addClientOptions(command: Command, forSet: boolean): Command {
  command
    .option('--certificate <pem-file...>', 'certificate(s) whose keys sign the client\'s assertions: PEM (several blocks allowed), base64 or binary DER files')
    .option('--metadata-url <url>', 'where the client publishes its keys instead (or as well), fetched and checked now: https, or http to a loopback host with --allow-loopback', parseUrl)
    .option('--allow-loopback', 'with --metadata-url: allow a loopback host and plain http (development only)')
    .option('--host-name <name...>', 'how the principal is addressed as a resource: host[:port] or *.domain[:port]', parseHostName)
    .option('--grant <grant...>', 'what the client may ask for: <resource-guid>=<scope>,<scope>[+delegation], one per resource', parseGrant)
    .option('--display-name <text>', 'a name for people (listings, audit)');
  if (forSet) {
    command
      .option('--no-certificate', 'remove every certificate')
      .option('--no-metadata-url', 'remove the metadata URL')
      .option('--no-allow-loopback', 'no longer allow a loopback metadata URL')
      .option('--no-host-name', 'remove every host name')
      .option('--no-grant', 'remove every grant')
      .option('--no-display-name', 'remove the display name')
      .addOption(new Option('--enabled', 'enable the client').conflicts('disabled'))
      .option('--disabled', 'disable the client');
  } else {
    command.option('--disabled', 'register the client disabled');
  }
  return command;
}

const CLIENT_ARGUMENT = ['<client-id>', 'the client, <principal>@<realm>: its principal id (a lowercase GUID), @, and the realm it is registered in'] as const;

/** Adds `client` and its subcommands to `program`. */
export function registerClientCommands(program: Command, io: CliIo): void {
  const clients = program
    .command('client')
    .description("an STS's clients: service principals, their credentials, host names and grants (in the STS's registry file)");

  addClientOptions(
    clients.command('add').description('register a client at the STS').argument(CLIENT_ARGUMENT[0], CLIENT_ARGUMENT[1], parseClientId),
    false,
  )
    .addHelpText(
      'after',
      `
A certificate (or a metadata URL) belongs to clients of one realm only: one already registered for
a client of another realm is refused (credential_shared, CVE-2025-53786). A client without
credentials can still be a resource. Creates the registry file if missing.

Example:
  s2sauth client add 00000004-0000-0ff1-ce00-000000000000@<tenant> --certificate lync.pem \\
    --host-name 127.0.0.1:4401 localhost:4401 --grant 00000002-0000-0ff1-ce00-000000000000=contacts.read,contacts.write+delegation \\
    --store .data/cloud/sts/sts.sqlite`,
    )
    .action(async (id: ClientId, flags: ClientFlags, command: Command) => {
      const context = new CommandContext(io, command);
      const added = await context.withStore('create', (store) => writeClient(store, id, flags, true));
      context.print(clientReport(added, 'added'));
    });

  addClientOptions(
    clients
      .command('set')
      .description('change a client: only the options given change (a list given replaces the old one)')
      .argument(CLIENT_ARGUMENT[0], CLIENT_ARGUMENT[1], parseClientId),
    true,
  ).action(async (id: ClientId, flags: ClientFlags, command: Command) => {
    const context = new CommandContext(io, command);
    if (Object.keys(flags).length === 0) throw usageError('nothing to change: give at least one option (see s2sauth client set --help)');
    const changed = await context.withStore('write', (store) => writeClient(store, id, flags, false));
    context.print(clientReport(changed, 'changed'));
  });

  clients
    .command('get')
    .description('show one client')
    .argument(CLIENT_ARGUMENT[0], CLIENT_ARGUMENT[1], parseClientId)
    .action(async (id: ClientId, _flags: object, command: Command) => {
      const context = new CommandContext(io, command);
      const found = await context.withStore('read', (store) => store.getClient(id.principal, id.realm));
      if (found === undefined) throw notFound(id);
      context.print(clientReport(found));
    });

  clients
    .command('list')
    .description('list every client')
    .action(async (_flags: object, command: Command) => {
      const context = new CommandContext(io, command);
      const list = await context.withStore('read', (store) => store.listClients());
      context.print({
        json: list.map(clientView),
        text: table(
          ['CLIENT ID', 'NAME', 'ENABLED', 'CREDENTIALS', 'HOST NAMES', 'GRANTS'],
          list.map((client) => [
            `${client.principal}@${client.realm}`,
            client.displayName ?? '',
            yesNo(client.enabled),
            [client.certificates.length === 0 ? undefined : describeCertificates(client.certificates), metadataText(client)]
              .filter((text) => text !== undefined)
              .join('; ') || '(none)',
            listText(client.hostNames),
            listText(client.grants.map(grantText)),
          ]),
          'no clients',
        ),
      });
    });

  clients
    .command('remove')
    .description('remove a client: it can no longer get tokens, nor be a resource')
    .argument(CLIENT_ARGUMENT[0], CLIENT_ARGUMENT[1], parseClientId)
    .action(async (id: ClientId, _flags: object, command: Command) => {
      const context = new CommandContext(io, command);
      const removed = await context.withStore('write', (store) => store.removeClient(id.principal, id.realm));
      if (!removed) throw notFound(id);
      const clientId = `${id.principal}@${id.realm}`;
      context.print({ json: { removed: true, clientId }, text: `removed client ${clientId}` });
    });

  for (const [name, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    clients
      .command(name)
      .description(enabled ? 'enable a client' : 'disable a client: it neither authenticates nor is a resource any more')
      .argument(CLIENT_ARGUMENT[0], CLIENT_ARGUMENT[1], parseClientId)
      .action(async (id: ClientId, _flags: object, command: Command) => {
        const context = new CommandContext(io, command);
        // Read and written in one step: a change made meanwhile by another command is kept.
        const changed = await context.withStore('write', (store) =>
          store.modifyClient(id.principal, id.realm, (current) => {
            if (current === undefined) throw notFound(id);
            return { ...current, enabled };
          }) as ClientRecord,
        );
        context.print(clientReport(changed, enabled ? 'enabled' : 'disabled'));
      });
  }
}
