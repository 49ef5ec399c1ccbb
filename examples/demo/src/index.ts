/**
 * `@s2sauth/example-demo`: the demo scenarios `npm start` runs. {@link startOnPremises} starts the
 * on-premises pair (Lync and Exchange trusting each other as partner applications) for programs and
 * tests; `src/main.ts` is the command line around it.
 *
 * ```ts
 * const pair = await startOnPremises({ dataDir: '.data/onprem', lyncPort: 4401, exchangePort: 4402, password: 'demo' });
 * console.log(pair.lync.url, pair.exchange.url, pair.users);
 * await pair.close();
 * ```
 * @packageDocumentation
 */
export * from './onprem.js';
export * from './demo-password.js';
export * from './demo-arguments.js';
export * from './demo-guide.js';
