#!/usr/bin/env node
/**
 * The `s2sauth` program: runs the command line with the process's arguments and streams, and
 * leaves the exit code in `process.exitCode` (the process ends by itself: nothing is left open).
 * A reader that goes away (`s2sauth --help | head`) ends the output quietly, not with a crash.
 * @packageDocumentation
 */
import { runCli } from './cli.js';

for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    stream.destroy();
  });
}

process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
