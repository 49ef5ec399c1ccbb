/**
 * The `s2sauth` command line (commander 14): the program, its global options, and how a run
 * ends. {@link runCli} never exits the process: it resolves with the exit code, so tests run it in
 * the test process and `bin.ts` sets `process.exitCode`.
 *
 * Exit codes: 0 done; 1 refused or failed (the registry's or the store's refusal, a metadata
 * document that could not be fetched or checked, an unknown identity, a missing registry file, a
 * file that is not a registry, a change that conflicts with one made meanwhile),
 * as one line `s2sauth: <message>` on standard error; 2 a command-line mistake (unknown command or
 * option, missing argument, bad option value), as one line with commander's message.
 */
import { readFileSync } from 'node:fs';
import { PartnerRegistryError } from '@s2sauth/middleware';
import { Command, CommanderError } from 'commander';
import { registerClientCommands } from './client-commands.js';
import { CliError, firstLine, STORE_VARIABLE, type CliIo } from './context.js';
import { registerOAuthServerCommands } from './oauth-server-commands.js';
import { registerPartnerCommands } from './partner-commands.js';

/** This package's version, from its package.json (one folder above both `src/` and `dist/`). */
function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { readonly version: string };
  return manifest.version;
}

/** The registry's option names (`PartnerRegistryError` messages name them) and the flags that set them. */
const FLAGS: Readonly<Record<string, string>> = {
  metadataUrl: '--metadata-url',
  allowLoopback: '--allow-loopback',
  applicationId: '--application-id',
  trustLevel: '--trust-level',
  scopes: '--scope',
  acceptUnsignedUserContext: '--accept-unsigned-user-context',
  useOAuthServer: '--use-oauth-server',
  realm: '--realm',
  certificate: '--certificate',
};

/**
 * A registry message in the terms of the command line: its option names (`metadataUrl: must be
 * an https URL ... with allowLoopback`) become the flags (`--metadata-url: ... with
 * --allow-loopback`). `realm` and `certificate`, ordinary words too, only where they name the field.
 */
export function inFlagTerms(message: string): string {
  return message
    .replace(/^(realm|certificate):/, (_, name: string) => `${FLAGS[name]}:`)
    .replace(/\b(metadataUrl|allowLoopback|applicationId|trustLevel|scopes|acceptUnsignedUserContext|useOAuthServer)\b/g, (name) => FLAGS[name] ?? name);
}

/** Commander's error text (`error: ...`, maybe with a suggestion on a second line) as one line. */
function usageLine(text: string): string {
  return `s2sauth: ${text.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()} (see --help)\n`;
}

/** The `s2sauth` program, writing to `io`. A new one per run: commander keeps parsed state. */
function createProgram(io: CliIo): Command {
  const program = new Command('s2sauth')
    .description(
      'Administers the trust of an s2sauth server: partner applications, OAuth servers (STSes) and, for an STS, ' +
        'its clients, in the SQLite registry file the server uses. The server may be running: it notices a change within a second.',
    )
    .version(packageVersion(), '-V, --version', 'show the version')
    .helpOption('-h, --help', 'show this help')
    .option(
      '--store <file>',
      `the SQLite registry file (env ${STORE_VARIABLE}); the demo servers use <data>/<scenario>/<server>/s2sauth.sqlite ` +
        '(e.g. .data/onprem/exchange/s2sauth.sqlite), the demo STS keeps its clients in <data>/<scenario>/sts/sts.sqlite',
    )
    .option('--json', 'print machine-readable JSON instead of a table or summary')
    // Set before the subcommands are added: they inherit them.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(usageLine(text)),
    })
    .addHelpText(
      'after',
      `
Certificates and keys are never printed: a certificate is shown as its thumbprint (x5t). Only add
creates a missing registry file (and says so); every other command refuses with "no registry at
<file>". get and list never change the file; no command touches a file that is not an s2sauth
registry. Names are case-sensitive. A change is applied on top of one another administrator made
meanwhile, never lost.

Examples:
  s2sauth partner list --store .data/onprem/exchange/s2sauth.sqlite
  s2sauth partner disable microsoft.lync --store .data/onprem/exchange/s2sauth.sqlite
  s2sauth oauth-server list --json --store .data/cloud/lync/s2sauth.sqlite
  S2SAUTH_STORE=.data/cloud/sts/sts.sqlite s2sauth client list`,
    );
  registerPartnerCommands(program, io);
  registerOAuthServerCommands(program, io);
  registerClientCommands(program, io);
  return program;
}

/**
 * Runs the `s2sauth` command line with `argv` (the arguments after the program name, e.g.
 * `process.argv.slice(2)`), writing results to `io.stdout` and failures to `io.stderr`.
 * Resolves with the exit code (0, 1 or 2, see the module documentation); never throws, never
 * exits the process, and leaves nothing open (the registry file is closed before it resolves).
 *
 * @example
 * ```ts
 * const code = await runCli(['partner', 'list', '--store', '.data/onprem/exchange/s2sauth.sqlite'], process);
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    await createProgram(io).parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version asked for end with 0; commander has already written every message.
      return error.exitCode === 0 ? 0 : 2;
    }
    io.stderr.write(`s2sauth: ${error instanceof PartnerRegistryError ? inFlagTerms(firstLine(error)) : firstLine(error)}\n`);
    return error instanceof CliError ? error.exitCode : 1;
  }
}
