/**
 * Messages between a benchmark and the server it runs in a child process (so the server and the
 * load generator each get a core): wait for the next message of one type, or fail when the child
 * exits first.
 */
import type { ChildProcess } from 'node:child_process';

/** Resolves with the child's next message of type `type`; rejects if the child exits before sending it. */
export function nextMessage<M extends { readonly type: string }, T extends M['type']>(
  child: ChildProcess,
  type: T,
  bench: string,
): Promise<Extract<M, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: M): void => {
      if (message.type !== type) return;
      cleanUp();
      resolve(message as Extract<M, { type: T }>);
    };
    const onExit = (code: number | null): void => {
      cleanUp();
      reject(new Error(`${bench}: the server process exited (${code}) before sending "${type}"`));
    };
    const cleanUp = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** What a benchmark tells its server process: `stats` (answered by a `stats` message) and `exit`. */
export type ParentMessage = { readonly type: 'stats' } | { readonly type: 'exit' };

/** Sends `{ type: 'stats' }` and resolves with the child's `stats` answer. */
export function askStats<M extends { readonly type: string }>(child: ChildProcess, bench: string): Promise<Extract<M, { type: 'stats' }>> {
  const reply = nextMessage<M, 'stats'>(child, 'stats' as M['type'] & 'stats', bench);
  child.send({ type: 'stats' } satisfies ParentMessage);
  return reply;
}

/** Asks the child to exit, waits up to 2 s, then kills it. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.send({ type: 'exit' } satisfies ParentMessage);
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
  if (child.exitCode === null) child.kill();
}
