/**
 * `@s2sauth/example-demo`: the demo scenarios `npm start` runs. {@link startOnPremises} starts the
 * on-premises pair (Lync and Exchange trusting each other as partner applications);
 * {@link startCloud} and {@link startHybrid} start an STS for a tenant with Lync and Exchange
 * trusting it (cloud: both in the tenant; hybrid: Lync on premises). `src/main.ts` is the command
 * line around them.
 *
 * ```ts
 * const pair = await startOnPremises({ dataDir: '.data/onprem', lyncPort: 4401, exchangePort: 4402, password: 'demo' });
 * console.log(pair.lync.url, pair.exchange.url, pair.users);
 * await pair.close();
 *
 * const cloud = await startCloud({ dataDir: '.data/cloud', stsPort: 4400, lyncPort: 4401, exchangePort: 4402, password: 'demo' });
 * console.log(cloud.sts.url, cloud.tenant);
 * await cloud.close();
 * ```
 * @packageDocumentation
 */
export * from './onprem.js';
export * from './demo-password.js';
export * from './demo-arguments.js';
export * from './demo-guide.js';
export * from './sts-scenarios.js';
export * from './tenant.js';
