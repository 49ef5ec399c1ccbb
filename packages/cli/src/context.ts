/**
 * What every command shares: the streams and environment it runs with, the global options
 * (`--store`, `--json`), opening the registry file (and closing it whatever happens), and the two
 * kinds of failure the command line reports (a usage mistake, exit 2; a refused operation, exit 1).
 */
import { chmodSync, existsSync, rmSync, statSync } from 'node:fs';
import { PartnerRegistry } from '@s2sauth/middleware';
import { S2SAuthError } from '@s2sauth/protocol';
import { SqliteStore, StoreError } from '@s2sauth/store';
import { InvalidArgumentError, type Command } from 'commander';

/** Where the command line writes (anything with `write(text)`, such as `process.stdout`). */
export interface CliOutput {
  write(text: string): unknown;
}

/** The streams and environment {@link runCli} runs with; `process.stdout`, `process.stderr` and `process.env` in the `s2sauth` program. */
export interface CliIo {
  /** Results: tables, summaries, JSON. */
  readonly stdout: CliOutput;
  /** Failures (one line, `s2sauth: <message>`) and help shown because of a mistake. */
  readonly stderr: CliOutput;
  /** Read for `S2SAUTH_STORE` only. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The environment variable naming the registry file when `--store` is not given. */
export const STORE_VARIABLE = 'S2SAUTH_STORE';

/** Stable codes of {@link CliError}: `usage` for a command-line mistake, `refused` for an operation that was refused or failed. */
export type CliErrorCode = 'usage' | 'refused';

/**
 * A failure the command line reports as one line on standard error, `s2sauth: <message>`: exit
 * code 2 (`code` `usage`) for a command-line mistake, 1 (`code` `refused`) for an operation that
 * was refused or failed.
 */
export class CliError extends S2SAuthError<CliErrorCode> {
  /** The process exit code: 2 for a usage mistake, 1 for a refused operation. */
  readonly exitCode: 1 | 2;

  /** @param message one sentence for a person, never a certificate or key. */
  constructor(message: string, exitCode: 1 | 2 = 1) {
    super(exitCode === 2 ? 'usage' : 'refused', message);
    this.exitCode = exitCode;
  }
}

/** A command-line mistake (exit code 2). */
export function usageError(message: string): CliError {
  return new CliError(message, 2);
}

/** The options every command accepts, declared on the `s2sauth` program. */
interface GlobalOptions {
  readonly store?: string;
  readonly json?: boolean;
}

/** What a command may do to the registry file (see {@link CommandContext.withStore}). */
export type StoreAccess = 'read' | 'write' | 'create';

/** What a command prints: the same result as JSON (`--json`) or as text for a person. */
export interface Report {
  /** Printed as JSON with `--json`. */
  readonly json: unknown;
  /** Printed otherwise; a final newline is added when missing. */
  readonly text: string;
}

/**
 * The context of one command run: its global options, the registry file, and where to print.
 * Created per command by {@link commandContext}.
 */
export class CommandContext {
  readonly #io: CliIo;
  readonly #options: GlobalOptions;

  /**
   * @param io where to print and the environment.
   * @param command the commander command being run (its global options are read from it).
   */
  constructor(io: CliIo, command: Command) {
    this.#io = io;
    this.#options = command.optsWithGlobals<GlobalOptions>();
  }

  /** True with `--json`. */
  get json(): boolean {
    return this.#options.json === true;
  }

  /**
   * The registry file: `--store`, else `S2SAUTH_STORE`.
   * @throws CliError (usage) when neither names one.
   */
  get storePath(): string {
    const fromEnvironment = this.#io.env[STORE_VARIABLE];
    const path = this.#options.store ?? (fromEnvironment === '' ? undefined : fromEnvironment);
    if (path === undefined || path === '') {
      throw usageError(`no registry file: give --store <file> or set ${STORE_VARIABLE}`);
    }
    return path;
  }

  /**
   * Runs `action` with the store of the registry file and closes it afterwards, whatever
   * happens. `access` says what the command may do to the file:
   * - `read` (get, list): a read-only copy ({@link SqliteStore.open} `readOnly`): the file is not
   *   changed in any way, and one of an older schema is read as it is;
   * - `write` (set, enable, disable, remove): the file must exist and be a registry; one of an
   *   older schema is brought up to date first, as a server does when it starts;
   * - `create` (add): as `write`, but a missing file is created, readable by its owner only (mode
   *   0600, as the demo servers keep theirs), said so on standard error, and removed again when
   *   `action` fails.
   * A file that is not an s2sauth registry is refused untouched in every case.
   * @throws CliError `no registry at <path>`, or when the file cannot be opened as a registry.
   */
  async withStore<T>(access: StoreAccess, action: (store: SqliteStore) => Promise<T> | T): Promise<T> {
    const path = this.storePath;
    const existed = existsSync(path);
    if (!existed && access !== 'create') throw new CliError(`no registry at ${path}`);
    if (existed && statSync(path).isDirectory()) throw new CliError(`${path} is a folder, not a registry file`);
    const store = openStore(path, access);
    if (!existed) restrictToOwner(path);
    let done = false;
    try {
      const result = await action(store);
      done = true;
      return result;
    } finally {
      store.close();
      // A refused add leaves no empty registry behind where there was none.
      if (!existed && !done) for (const file of registryFiles(path)) rmSync(file, { force: true });
      // A mistyped --store must not go unnoticed: the change went to a new file.
      if (!existed && done) this.#io.stderr.write(`s2sauth: created a new registry at ${path}\n`);
    }
  }

  /**
   * Runs `action` with a `PartnerRegistry` on the registry file (see {@link withStore}); the
   * registry and the store are closed afterwards.
   */
  withRegistry<T>(access: StoreAccess, action: (registry: PartnerRegistry) => Promise<T> | T): Promise<T> {
    return this.withStore(access, async (store) => {
      const registry = new PartnerRegistry({ store });
      try {
        return await action(registry);
      } finally {
        registry.close();
      }
    });
  }

  /** Prints `report` as JSON (`--json`) or as text. */
  print(report: Report): void {
    const text = this.json ? JSON.stringify(report.json, null, 2) : report.text;
    this.#io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }
}

/** Opens the registry file for `access`, turning a file that cannot be opened into a one-line refusal. */
function openStore(path: string, access: StoreAccess): SqliteStore {
  try {
    return SqliteStore.open(path, access === 'read' ? { readOnly: true } : { create: access === 'create' });
  } catch (error) {
    // not_a_registry, schema_too_new and the like already say what is wrong with the file.
    if (error instanceof StoreError) throw error;
    throw new CliError(`cannot open the registry ${path}: ${firstLine(error)}`);
  }
}

/** The registry file and the WAL files SQLite keeps beside it. */
function registryFiles(path: string): string[] {
  return [path, `${path}-wal`, `${path}-shm`];
}

/** Makes a registry file (and the WAL files beside it) this command created private to its owner. */
function restrictToOwner(path: string): void {
  for (const file of registryFiles(path)) {
    if (existsSync(file)) chmodSync(file, 0o600);
  }
}

/**
 * For a name that is not registered: `; did you mean "<name>"? (names are case-sensitive)` when
 * `known` holds one that differs from `name` only in letter case (the one first in order, if
 * several do), else nothing.
 */
export function caseHint(name: string, known: readonly string[]): string {
  const folded = name.toLowerCase();
  const match = known.find((candidate) => candidate !== name && candidate.toLowerCase() === folded);
  return match === undefined ? '' : `; did you mean "${match}"? (names are case-sensitive)`;
}

/**
 * Parses a `--metadata-url` value: an absolute URL, or a command-line mistake (exit 2). Whether
 * the registry accepts it (https, loopback rules) is for the registry to say (exit 1).
 * @throws InvalidArgumentError otherwise.
 */
export function parseUrl(value: string): string {
  if (!URL.canParse(value)) throw new InvalidArgumentError('expected an absolute URL, e.g. https://mail.contoso.com/metadata/json/1');
  return value;
}

/** The first line of an error's message (never a stack trace). */
export function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n', 1)[0]?.trim() || 'failed';
}
