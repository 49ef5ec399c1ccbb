/**
 * The Express versions the middleware supports (peer range `^4.21 || ^5.1`): the HTTP tests run
 * their suites once per version through {@link describeWithExpress}. Express 4 is the `express4`
 * npm alias of the development dependencies.
 */
import { createRequire } from 'node:module';
import { describe } from 'mocha';
import express5 from 'express';
import express4 from 'express4';

/** The `express` module (typed as Express 5's; Express 4 offers every function these tests use). */
export type ExpressModule = typeof express5;

/** One supported Express: its module, the name a child process imports it by, and its version. */
export interface ExpressUnderTest {
  readonly express: ExpressModule;
  /** The package name to import it by (`express` or `express4`), e.g. in a child process. */
  readonly moduleName: 'express' | 'express4';
  /** The installed version, e.g. `4.22.3`. */
  readonly version: string;
}

const require = createRequire(import.meta.url);

/** Every supported Express, newest first. */
export const EXPRESS_VERSIONS: readonly ExpressUnderTest[] = [
  { express: express5, moduleName: 'express', version: (require('express/package.json') as { version: string }).version },
  { express: express4 as unknown as ExpressModule, moduleName: 'express4', version: (require('express4/package.json') as { version: string }).version },
];

/** Runs the suite `body` once per supported Express, titled `<title> (Express <version>)`. */
export function describeWithExpress(title: string, body: (express: ExpressModule, under: ExpressUnderTest) => void): void {
  for (const under of EXPRESS_VERSIONS) {
    describe(`${title} (Express ${under.version})`, () => body(under.express, under));
  }
}
