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
