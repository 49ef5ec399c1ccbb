/**
 * `npm start`: runs a demo scenario until Ctrl-C. Reads the command line, prepares the data folder
 * and the users' password, starts the servers, prints the guide and a `Ready` line, and stops
 * everything on SIGINT or SIGTERM, or when the process that started it (npm) is gone (exit 0).
 *
 * Output: the guide on standard output; logs (pino, `warn` unless `--verbose`) on standard error;
 * the audit of every token decision (and, in the cloud and hybrid scenarios, every token the STS
 * issued or refused) in `<data>/<scenario>/audit.log` (rotated by size and age: demo-logs.ts), so
 * the guide stays readable and the audit can be followed with `tail -F`. Failures are one line on
 * standard error: exit 2 for a command-line mistake, 1 for a port in use, an unwritable data folder
 * or any other failure.
 */
import { realpathSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDemoArguments, UsageError, type DemoSettings } from './demo-arguments.js';
import { demoGuide } from './demo-guide.js';
import { openDemoLogs, type DemoLogs } from './demo-logs.js';
import { resolveDemoPassword } from './demo-password.js';
import { startOnPremises } from './onprem.js';
import { startCloud, startHybrid } from './sts-scenarios.js';

export { parseDemoArguments, UsageError } from './demo-arguments.js';

/** The file-system errors that mean "this folder cannot be used". */
const UNWRITABLE = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST', 'ENOSPC']);

/** How often the demo checks that the process that started it (npm, a shell) is still there. */
const PARENT_CHECK_MS = 250;

/** A second SIGINT or SIGTERM within this time of the first is the same stop, not "give up waiting". */
const SAME_STOP_MS = 1000;

/** A failure of `npm start` as one line, without a stack trace. */
export function describeFailure(
  error: unknown,
  settings: (Pick<DemoSettings, 'lyncPort' | 'exchangePort'> & Partial<Pick<DemoSettings, 'stsPort' | 'scenario'>>) | undefined,
): string {
  const failure = error as NodeJS.ErrnoException & { port?: number; address?: string };
  if (error instanceof UsageError) return error.message;
  // A database file or folder that cannot be written: the message names it and what to change.
  if (error instanceof Error && error.name === 'UnwritableDatabaseError') return `${error.message} (--data or S2SAUTH_DATA chooses another data folder.)`;
  if (failure?.code === 'EADDRINUSE') {
    const which =
      settings === undefined
        ? undefined
        : failure.port === settings.lyncPort
          ? 'Lync (--lync-port or LYNC_PORT)'
          : failure.port === settings.exchangePort
            ? 'Exchange (--exchange-port or EXCHANGE_PORT)'
            : settings.scenario !== undefined && settings.scenario !== 'onprem' && failure.port === settings.stsPort
              ? 'the STS (--sts-port or STS_PORT)'
              : undefined;
    const where = failure.port === undefined ? 'A port' : `Port ${failure.port}${failure.address === undefined ? '' : ` on ${failure.address}`}`;
    return `${where} is in use: stop what uses it${which === undefined ? ', or choose other ports' : `, or choose another port for ${which}`}.`;
  }
  if (typeof failure?.code === 'string' && UNWRITABLE.has(failure.code)) {
    const path = failure.path === undefined ? 'the data folder' : failure.path;
    return `Cannot use ${path} (${failure.code}): choose a writable data folder with --data or S2SAUTH_DATA.`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] ?? 'Failed.';
}

/**
 * Runs the demo with `argv` (after the script name) and `env`. Resolves with the exit code on a
 * failure to start; once running, the process exits from the signal handler.
 */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let settings: DemoSettings | undefined;
  let logs: DemoLogs | undefined;
  try {
    const command = parseDemoArguments(argv, env);
    if (command.kind === 'help') {
      process.stdout.write(command.text);
      return 0;
    }
    settings = command.settings;
    const dataDir = resolve(settings.dataDir);
    const scenarioDir = join(dataDir, settings.scenario);
    await mkdir(scenarioDir, { recursive: true, mode: 0o700 });
    const password = await resolveDemoPassword(dataDir, env);
    const auditLog = join(scenarioDir, 'audit.log');
    logs = await openDemoLogs({ verbose: settings.verbose, auditLog });
    const { logger, audit } = logs;
    const opened = logs;

    const common = { dataDir: scenarioDir, lyncPort: settings.lyncPort, exchangePort: settings.exchangePort, password: password.password, logger, audit };
    // The STS's decisions (tokens issued or refused) go to the same audit log as the servers'.
    const stsOptions = { ...common, stsPort: settings.stsPort, stsLogger: logs.stsLogger };
    const pair =
      settings.scenario === 'cloud'
        ? await startCloud(stsOptions)
        : settings.scenario === 'hybrid'
          ? await startHybrid(stsOptions)
          : { ...(await startOnPremises(common)), sts: undefined, tenant: undefined };
    let stoppingSince: number | undefined;
    /** Stops everything and exits 0 (1 when closing fails); `why` is a signal name or `parent exited`. */
    const stop = (why: string): void => {
      if (stoppingSince !== undefined) {
        // Ctrl-C reaches node twice under npm (from the terminal, and forwarded by npm): the same stop.
        // A second Ctrl-C later, while closing: give up waiting.
        if (performance.now() - stoppingSince >= SAME_STOP_MS) process.exit(1);
        return;
      }
      stoppingSince = performance.now();
      logger.info({ why }, 'stopping');
      pair.close().then(opened.close).then(
        () => process.exit(0),
        (error: unknown) => {
          process.stderr.write(`${describeFailure(error, settings)}\n`);
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    // A supervisor that stops `npm start` may signal only npm, which passes SIGINT and SIGTERM on
    // to its child but cannot when that child is a shell running node (the shell dies, node is
    // left to init). So: stop, as for SIGTERM, as soon as the parent that started the demo is gone.
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) stop('parent exited');
    }, PARENT_CHECK_MS).unref();

    const guide = demoGuide({
      scenario: settings.scenario,
      ...(pair.sts === undefined ? {} : { sts: { url: pair.sts.url, tenant: pair.tenant } }),
      lyncUrl: pair.lync.url,
      exchangeUrl: pair.exchange.url,
      users: pair.users,
      password,
      scenarioDir,
      auditLog,
      cwd: env['INIT_CWD'] ?? process.cwd(),
    });
    const ready =
      pair.sts === undefined
        ? `Ready: Lync ${pair.lync.url}, Exchange ${pair.exchange.url}. Ctrl-C stops both.`
        : `Ready: STS ${pair.sts.url}, Lync ${pair.lync.url}, Exchange ${pair.exchange.url}. Ctrl-C stops all three.`;
    process.stdout.write(`${guide}\n${ready}\n`);
    return 0;
  } catch (error) {
    await logs?.close();
    process.stderr.write(`${describeFailure(error, settings)}\n`);
    if (settings?.verbose === true && error instanceof Error && error.stack !== undefined) process.stderr.write(`${error.stack}\n`);
    return error instanceof UsageError ? error.exitCode : 1;
  }
}

/** True when this module is the program (`node .../main.ts`), not imported by a test. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const code = await main(process.argv.slice(2));
  // A failed start may leave a timer or socket behind; it must not keep the process alive.
  if (code !== 0) process.exit(code);
}
