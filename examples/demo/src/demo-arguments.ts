/**
 * The command line of `npm start`: flags, their environment fallbacks (flag, then environment,
 * then default) and their checks. Every mistake is one {@link UsageError} sentence that says what
 * to write instead.
 */
import { Command, CommanderError, Option } from 'commander';

/**
 * The scenarios `--scenario` names: `onprem` (the servers' own issuers), `cloud` (an STS for a
 * tenant, both servers in it) and `hybrid` (Lync on premises, Exchange in the tenant, STS tokens).
 */
export const SCENARIOS = ['onprem', 'cloud', 'hybrid'] as const;
/** A scenario name. */
export type Scenario = (typeof SCENARIOS)[number];

/** Default ports: Lync, Exchange, and the STS of the cloud and hybrid scenarios. */
export const DEFAULT_PORTS = { lync: 4401, exchange: 4402, sts: 4400 } as const;
/** Default data folder (relative to the working directory). */
export const DEFAULT_DATA_DIR = '.data';

/** What `npm start` runs. */
export interface DemoSettings {
  /** The data folder; each scenario uses a subfolder named after it. */
  readonly dataDir: string;
  readonly scenario: Scenario;
  /** 0 means any free port. */
  readonly lyncPort: number;
  readonly exchangePort: number;
  /** The authorization server's port (cloud and hybrid). */
  readonly stsPort: number;
  /** Logs at `info` to standard error instead of `warn`. */
  readonly verbose: boolean;
}

/** The parsed command line: settings to run, or the help text to print. */
export type DemoCommand = { readonly kind: 'run'; readonly settings: DemoSettings } | { readonly kind: 'help'; readonly text: string };

/** A command-line mistake: one sentence, exit code 2. */
export class UsageError extends Error {
  readonly exitCode = 2;

  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function program(): Command {
  return new Command('npm start --')
    .description('Runs an s2sauth demo scenario: two servers that trust each other as partner applications.')
    .addOption(new Option('--data <dir>', `data folder (env S2SAUTH_DATA, default ${DEFAULT_DATA_DIR})`))
    .addOption(new Option('--lync-port <port>', `Lync's port, 0 for any free one (env LYNC_PORT, default ${DEFAULT_PORTS.lync})`))
    .addOption(new Option('--exchange-port <port>', `Exchange's port, 0 for any free one (env EXCHANGE_PORT, default ${DEFAULT_PORTS.exchange})`))
    .addOption(new Option('--sts-port <port>', `the authorization server's port, cloud and hybrid scenarios (env STS_PORT, default ${DEFAULT_PORTS.sts})`))
    .addOption(new Option('--scenario <name>', 'onprem (own issuers), cloud (an STS for a tenant) or hybrid (Lync on premises, Exchange in the tenant)').default('onprem'))
    .addOption(new Option('--verbose', 'log at info level to standard error (default: warnings only)'))
    .helpOption('-h, --help', 'show this help')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
}

function readPort(flag: string | undefined, variable: string, env: NodeJS.ProcessEnv, fallback: number, name: string): number {
  const fromEnvironment = env[variable];
  const text = flag ?? (fromEnvironment === undefined || fromEnvironment === '' ? undefined : fromEnvironment);
  if (text === undefined) return fallback;
  const source = flag === undefined ? `${variable}=${text}` : `--${name} ${text}`;
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) throw new UsageError(`${source}: a port is a whole number from 1 to 65535 (0 for any free port).`);
  return port;
}

/**
 * Parses `argv` (the arguments after the script, e.g. `process.argv.slice(2)`) with `env` as the
 * fallback for each flag.
 * @throws UsageError for an unknown flag, a bad port, two servers on one port, or an unknown scenario.
 */
export function parseDemoArguments(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): DemoCommand {
  const command = program();
  try {
    command.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.help') return { kind: 'help', text: command.helpInformation() };
      throw new UsageError(`${error.message.replace(/^error: /, '')} (see --help).`);
    }
    throw error;
  }
  const flags = command.opts<{ data?: string; lyncPort?: string; exchangePort?: string; stsPort?: string; scenario: string; verbose?: true }>();

  const scenario = SCENARIOS.find((name) => name === flags.scenario);
  if (scenario === undefined) throw new UsageError(`Unknown scenario "${flags.scenario}": choose onprem, cloud or hybrid.`);

  const dataFromEnvironment = env['S2SAUTH_DATA'];
  const dataDir = flags.data ?? (dataFromEnvironment === undefined || dataFromEnvironment === '' ? DEFAULT_DATA_DIR : dataFromEnvironment);
  if (dataDir === '') throw new UsageError('--data needs a folder path.');

  const lyncPort = readPort(flags.lyncPort, 'LYNC_PORT', env, DEFAULT_PORTS.lync, 'lync-port');
  const exchangePort = readPort(flags.exchangePort, 'EXCHANGE_PORT', env, DEFAULT_PORTS.exchange, 'exchange-port');
  const stsPort = readPort(flags.stsPort, 'STS_PORT', env, DEFAULT_PORTS.sts, 'sts-port');
  if (lyncPort !== 0 && lyncPort === exchangePort) throw new UsageError(`Lync and Exchange cannot both use port ${lyncPort}; give one of them another port.`);
  if (scenario !== 'onprem' && stsPort !== 0) {
    const other = stsPort === lyncPort ? 'Lync' : stsPort === exchangePort ? 'Exchange' : undefined;
    if (other !== undefined) throw new UsageError(`The STS and ${other} cannot both use port ${stsPort}; give one of them another port.`);
  }

  return { kind: 'run', settings: { dataDir, scenario, lyncPort, exchangePort, stsPort, verbose: flags.verbose === true } };
}
