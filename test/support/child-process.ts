/**
 * Runs a piece of code in a new Node process, as a user's process would run it: with the
 * `s2sauth-source` condition and tsx, from the repository root, so that it can import any
 * `@s2sauth/*` package. For what only a fresh process shows (state set once per process, exit
 * behaviour, a second connection to a database).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Runs `source` (an ES module body) with `args` as its `process.argv` tail; its standard output. */
export async function runInChildProcess(source: string, ...args: string[]): Promise<string> {
  // No coverage from these processes: merged with the test process's, their partial view of the
  // same sources garbles c8's report. (Deleting the variable is not enough: Node copies it back.)
  const env = { ...process.env, NODE_V8_COVERAGE: '' };
  const { stdout } = await run(process.execPath, ['--conditions=s2sauth-source', '--import=tsx', '--input-type=module', '-e', source, ...args], {
    cwd: repositoryRoot,
    env,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}
