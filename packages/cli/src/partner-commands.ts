/**
 * `s2sauth partner ...`: the partner applications a server trusts, as Lync's `New-`, `Set-`,
 * `Get-` and `Remove-CsPartnerApplication` manage them, through `PartnerRegistry`: adding (or
 * moving to) a metadata URL fetches and checks the document first and stores nothing when the
 * registry refuses.
 */
import { PartnerRegistryError, type PartnerApplicationChanges, type PartnerRegistry } from '@s2sauth/middleware';
import { TRUST_LEVELS, type PartnerApplication, type TrustLevel } from '@s2sauth/store';
import { Option, type Command } from 'commander';
import { readCertificateFiles } from './certificate-files.js';
import { caseHint, CliError, CommandContext, parseUrl, usageError, type CliIo, type Report } from './context.js';
import { certificateLines, describeCertificates, details, isoTime, listText, summarizeCertificate, table, yesNo, type CertificateSummary } from './output.js';

/** A partner application as `--json` shows it: certificates as thumbprints, times in ISO 8601. */
export interface PartnerView {
  readonly identity: string;
  readonly applicationId: string;
  readonly realm: string;
  /** `<applicationId>@<realm>`, the `iss` of the partner's self-issued tokens. */
  readonly issuer: string;
  readonly keySource:
    | { readonly kind: 'metadata'; readonly metadataUrl: string; readonly allowLoopback: boolean }
    | { readonly kind: 'certificate'; readonly certificates: readonly CertificateSummary[] }
    | { readonly kind: 'oauthServer' };
  readonly trustLevel: TrustLevel;
  readonly scopes: readonly string[];
  readonly enabled: boolean;
  readonly acceptUnsignedUserContext: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** The `--json` view of `partner`. */
export function partnerView(partner: PartnerApplication): PartnerView {
  const source = partner.keySource;
  return {
    identity: partner.identity,
    applicationId: partner.applicationId,
    realm: partner.realm,
    issuer: `${partner.applicationId}@${partner.realm}`,
    keySource:
      source.kind === 'metadata'
        ? { kind: 'metadata', metadataUrl: source.metadataUrl, allowLoopback: source.allowLoopback === true }
        : source.kind === 'certificate'
          ? { kind: 'certificate', certificates: source.certificates.map(summarizeCertificate) }
          : { kind: 'oauthServer' },
    trustLevel: partner.trustLevel,
    scopes: partner.scopes,
    enabled: partner.enabled,
    acceptUnsignedUserContext: partner.acceptUnsignedUserContext,
    createdAt: isoTime(partner.createdAt),
    updatedAt: isoTime(partner.updatedAt),
  };
}

/** The key source in one line, for the list. */
function keySourceText(partner: PartnerApplication): string {
  const source = partner.keySource;
  if (source.kind === 'metadata') return `metadata ${source.metadataUrl}${source.allowLoopback === true ? ' (loopback allowed)' : ''}`;
  if (source.kind === 'certificate') return describeCertificates(source.certificates);
  return 'OAuth server';
}

/** The key source in as many lines as it takes, for a summary. */
function keySourceLines(partner: PartnerApplication): string[] {
  const source = partner.keySource;
  if (source.kind === 'certificate') return [`certificate (${source.certificates.length})`, ...certificateLines(source.certificates)];
  if (source.kind === 'metadata') return [keySourceText(partner)];
  return ['OAuth server (actor tokens from the STS registered for its realm)'];
}

function partnerDetails(partner: PartnerApplication): string {
  return details([
    ['identity', partner.identity],
    ['application id', partner.applicationId],
    ['realm', partner.realm],
    ['key source', keySourceLines(partner)],
    ['trust level', partner.trustLevel],
    ['scopes', listText(partner.scopes)],
    ['enabled', yesNo(partner.enabled)],
    ['accept unsigned user context', yesNo(partner.acceptUnsignedUserContext)],
    ['created', isoTime(partner.createdAt)],
    ['updated', isoTime(partner.updatedAt)],
  ]);
}

/** A partner record reported after `verb` (or alone for `get`). */
function partnerReport(partner: PartnerApplication, verb?: string): Report {
  const heading = verb === undefined ? '' : `${verb} partner application ${partner.identity}\n`;
  return { json: partnerView(partner), text: `${heading}${partnerDetails(partner)}` };
}

/** The refusal of an unknown identity, naming a registered one that differs only in letter case. */
function notFound(registry: PartnerRegistry, identity: string): CliError {
  return new CliError(`no partner application named "${identity}"${caseHint(identity, registry.list().map((partner) => partner.identity))}`);
}

/** Runs a registry operation on `identity`, reporting an unknown identity as "no partner application named". */
async function onPartner<T>(registry: PartnerRegistry, identity: string, action: () => Promise<T> | T): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof PartnerRegistryError && error.code === 'not_found') throw notFound(registry, identity);
    throw error;
  }
}

/** The options of `partner add` and `partner set`, as commander hands them over. */
interface PartnerFlags {
  readonly metadataUrl?: string;
  readonly allowLoopback?: boolean;
  readonly certificate?: readonly string[];
  /** commander spells `--use-oauth-server` so. */
  readonly useOauthServer?: boolean;
  readonly applicationId?: string;
  readonly realm?: string;
  readonly trustLevel?: TrustLevel;
  readonly scope?: readonly string[] | false;
  readonly acceptUnsignedUserContext?: boolean;
  readonly enabled?: boolean;
  readonly disabled?: boolean;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The registry fields the flags give (certificate files read); absent flags are left out. */
function partnerChanges(flags: PartnerFlags): PartnerApplicationChanges {
  const sources = [flags.metadataUrl !== undefined, flags.certificate !== undefined, flags.useOauthServer === true].filter(Boolean).length;
  if (sources > 1) throw usageError('give only one key source: --metadata-url, --certificate or --use-oauth-server');
  const changes: Mutable<PartnerApplicationChanges> = {};
  if (flags.metadataUrl !== undefined) changes.metadataUrl = flags.metadataUrl;
  if (flags.allowLoopback !== undefined) changes.allowLoopback = flags.allowLoopback;
  if (flags.certificate !== undefined) changes.certificate = readCertificateFiles(flags.certificate);
  if (flags.useOauthServer === true) changes.useOAuthServer = true;
  if (flags.applicationId !== undefined) changes.applicationId = flags.applicationId;
  if (flags.realm !== undefined) changes.realm = flags.realm;
  if (flags.trustLevel !== undefined) changes.trustLevel = flags.trustLevel;
  if (flags.scope !== undefined) changes.scopes = flags.scope === false ? [] : flags.scope;
  if (flags.acceptUnsignedUserContext !== undefined) changes.acceptUnsignedUserContext = flags.acceptUnsignedUserContext;
  if (flags.disabled === true) changes.enabled = false;
  else if (flags.enabled === true) changes.enabled = true;
  return changes;
}

/** The options `partner add` and `partner set` share; `set` can also turn things off. */
function addPartnerOptions(command: Command, forSet: boolean): Command {
  command
    .option('--metadata-url <url>', "the partner's metadata document (/metadata/json/1), fetched and checked now: https, or http to a loopback host with --allow-loopback", parseUrl)
    .option('--allow-loopback', 'with --metadata-url: allow a loopback host and plain http (development only)')
    .option('--certificate <pem-file...>', "the partner's signing certificate(s): PEM (several blocks allowed), base64 or binary DER files")
    .option('--use-oauth-server', 'the partner is trusted through the OAuth server (STS) registered for its realm; needs --application-id and --realm')
    .option('--application-id <guid>', "the partner's principal id, a lowercase GUID (with --metadata-url: default the document's)")
    .option('--realm <realm>', "the partner's realm, a lowercase DNS name or GUID (with --metadata-url: default the document's)")
    .addOption(new Option('--trust-level <level>', 'what the partner may do (default full)').choices(TRUST_LEVELS))
    .option('--scope <scope...>', 'the scopes granted to the partner, replacing any others (default none)')
    .option('--accept-unsigned-user-context', 'accept unsigned (alg none) user-context tokens, as Microsoft servers send them');
  if (forSet) {
    command
      .option('--no-allow-loopback', 'no longer allow a loopback metadata URL')
      .option('--no-scope', 'grant no scopes')
      .option('--no-accept-unsigned-user-context', 'refuse unsigned user-context tokens again')
      .addOption(new Option('--enabled', 'enable the partner').conflicts('disabled'))
      .option('--disabled', 'disable the partner');
  } else {
    command.option('--disabled', 'register the partner disabled');
  }
  return command;
}

/** Adds `partner` and its subcommands to `program`. */
export function registerPartnerCommands(program: Command, io: CliIo): void {
  const partner = program
    .command('partner')
    .description('partner applications this server trusts (New-, Set-, Get-, Remove-CsPartnerApplication)');

  addPartnerOptions(
    partner
      .command('add')
      .description('register a partner application by metadata URL, certificate or OAuth server')
      .argument('<identity>', 'the registration name, e.g. microsoft.exchange: 1 to 64 of a-z 0-9 . _ -'),
    false,
  )
    .addHelpText(
      'after',
      `
Exactly one key source: --metadata-url, --certificate or --use-oauth-server. By metadata URL the
document is fetched and checked first, and nothing is stored if it cannot be fetched, is not a
valid document or contradicts --application-id/--realm. Creates the registry file if missing.

Examples:
  s2sauth partner add microsoft.lync --metadata-url http://127.0.0.1:4401/metadata/json/1 --allow-loopback --scope contacts.read contacts.write
  s2sauth partner add contoso.crm --certificate crm.pem --application-id 5b1f8d6e-3f5a-4c1e-9a57-0c9e2d6f4b21 --realm contoso.com --trust-level application
  s2sauth partner add microsoft.exchange --use-oauth-server --application-id 00000002-0000-0ff1-ce00-000000000000 --realm <tenant>`,
    )
    .action(async (identity: string, flags: PartnerFlags, command: Command) => {
      const context = new CommandContext(io, command);
      const changes = partnerChanges(flags);
      if (changes.metadataUrl === undefined && changes.certificate === undefined && changes.useOAuthServer !== true) {
        throw usageError('give a key source: --metadata-url, --certificate or --use-oauth-server');
      }
      const added = await context.withRegistry('create', (registry) => registry.add({ identity, ...changes }));
      context.print(partnerReport(added, 'added'));
    });

  addPartnerOptions(
    partner
      .command('set')
      .description('change a partner application: only the options given change')
      .argument('<identity>', 'the registration name'),
    true,
  )
    .addHelpText(
      'after',
      `
A key source given here replaces the old one; a metadata document is fetched and checked again when
the URL, --allow-loopback, --application-id or --realm change. --scope replaces the scopes.

Examples:
  s2sauth partner set microsoft.lync --scope contacts.read
  s2sauth partner set microsoft.lync --metadata-url https://lync.contoso.com/metadata/json/1 --no-allow-loopback`,
    )
    .action(async (identity: string, flags: PartnerFlags, command: Command) => {
      const context = new CommandContext(io, command);
      const changes = partnerChanges(flags);
      if (Object.keys(changes).length === 0) throw usageError('nothing to change: give at least one option (see s2sauth partner set --help)');
      const updated = await context.withRegistry('write', (registry) => onPartner(registry, identity, () => registry.update(identity, changes)));
      context.print(partnerReport(updated, 'changed'));
    });

  partner
    .command('get')
    .description('show one partner application')
    .argument('<identity>', 'the registration name')
    .action(async (identity: string, _flags: object, command: Command) => {
      const context = new CommandContext(io, command);
      const found = await context.withRegistry('read', (registry) => registry.get(identity) ?? Promise.reject(notFound(registry, identity)));
      context.print(partnerReport(found));
    });

  partner
    .command('list')
    .description('list every partner application')
    .action(async (_flags: object, command: Command) => {
      const context = new CommandContext(io, command);
      const partners = await context.withRegistry('read', (registry) => registry.list());
      context.print({
        json: partners.map(partnerView),
        text: table(
          ['IDENTITY', 'APPLICATION ID', 'REALM', 'ENABLED', 'TRUST', 'KEY SOURCE', 'SCOPES'],
          partners.map((entry) => [
            entry.identity,
            entry.applicationId,
            entry.realm,
            yesNo(entry.enabled),
            entry.trustLevel,
            keySourceText(entry),
            listText(entry.scopes),
          ]),
          'no partner applications',
        ),
      });
    });

  partner
    .command('remove')
    .description('remove a partner application: none of its tokens are accepted any more')
    .argument('<identity>', 'the registration name')
    .action(async (identity: string, _flags: object, command: Command) => {
      const context = new CommandContext(io, command);
      await context.withRegistry('write', (registry) => {
        if (!registry.remove(identity)) throw notFound(registry, identity);
      });
      context.print({ json: { removed: true, identity }, text: `removed partner application ${identity}` });
    });

  for (const [name, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    partner
      .command(name)
      .description(enabled ? 'enable a partner application' : 'disable a partner application: its tokens are refused from the next request on')
      .argument('<identity>', 'the registration name')
      .action(async (identity: string, _flags: object, command: Command) => {
        const context = new CommandContext(io, command);
        const changed = await context.withRegistry('write', (registry: PartnerRegistry) =>
          onPartner(registry, identity, () => (enabled ? registry.enable(identity) : registry.disable(identity))),
        );
        context.print(partnerReport(changed, enabled ? 'enabled' : 'disabled'));
      });
  }
}
