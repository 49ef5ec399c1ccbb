/**
 * Two (here three) administrators at once never lose a change: real `s2sauth` command lines, in
 * separate processes, change the same partners and clients of one registry file at the same
 * moment, round after round, and every change a command acknowledged (exit 0) must be in the file
 * afterwards. Each process runs the command line's `runCli` (what the `s2sauth` program runs) on
 * a shared wall-clock schedule, so that the commands of one round start within a millisecond or
 * two of each other rather than as far apart as process start-ups are.
 */
import { expect } from 'chai';
import { after, before, describe, it } from 'mocha';
import { WellKnownPrincipal } from '@s2sauth/protocol';
import { SqliteStore } from '@s2sauth/store';
import { runInChildProcess } from '@s2sauth/test-support/child-process';
import { temporaryFolder } from './run-cli.js';

/** One administrator's process: runs `plan[r]` (command lines) at `start + r * slot` ms, for every round `r`. */
const ADMINISTRATOR = `
import { runCli } from '@s2sauth/cli';
const [start, slot, planJson] = process.argv.slice(1);
const plan = JSON.parse(planJson);
const results = [];
for (const [round, commands] of plan.entries()) {
  const at = Number(start) + round * Number(slot);
  while (Date.now() < at) await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(at - Date.now(), 5))));
  for (const argv of commands) {
    let stderr = '';
    const code = await runCli(argv, { stdout: { write: () => true }, stderr: { write: (text) => (stderr += text) }, env: {} });
    results.push({ round, argv, code, stderr });
  }
}
console.log(JSON.stringify(results));
`;

interface Result {
  readonly round: number;
  readonly argv: readonly string[];
  readonly code: number;
  readonly stderr: string;
}

const ROUNDS = 20;
/** Time between rounds: longer than a round's commands take on a busy machine. */
const SLOT_MS = 250;
/** Time for the processes to start (tsx compiles the sources) before the first round. */
const START_MS = 12_000;
const CLIENT = WellKnownPrincipal.exchange;
const RESOURCE = WellKnownPrincipal.lync;

const partner = (round: number): string => `partner-${round}`;
const realm = (round: number): string => `r${round}.contoso.com`;
const clientId = (round: number): string => `${CLIENT}@${realm(round)}`;

describe('s2sauth: concurrent administrators in separate processes', () => {
  const folder = temporaryFolder();
  const file = folder.file('registry.sqlite');

  before(() => {
    const store = SqliteStore.open(file);
    try {
      for (let round = 0; round < ROUNDS; round += 1) {
        store.put({
          identity: partner(round),
          applicationId: WellKnownPrincipal.sharepoint,
          realm: realm(round),
          keySource: { kind: 'oauthServer' },
          trustLevel: 'full',
          scopes: ['initial'],
          enabled: true,
        });
        store.putClient({ principal: CLIENT, realm: realm(round), hostNames: ['mail.contoso.com'] });
      }
    } finally {
      store.close();
    }
  });

  after(() => folder.remove());

  it('loses no acknowledged change: partner disable racing partner set --scope (and two more fields), client disable racing client set --grant', async function () {
    this.timeout(60_000);
    const store = ['--store', file];
    const rounds = Array.from({ length: ROUNDS }, (_, round) => round);
    // Per round, the first commands of the three processes race on one partner, then their second ones.
    const plans: string[][][][] = [
      rounds.map((round) => [
        ['partner', 'disable', partner(round), ...store],
        ['client', 'disable', clientId(round), ...store],
      ]),
      rounds.map((round) => [
        ['partner', 'set', partner(round), '--scope', `scope.${round}`, 'shared', ...store],
        ['client', 'set', clientId(round), '--grant', `${RESOURCE}=grant.${round}`, ...store],
      ]),
      rounds.map((round) => [
        ['partner', 'set', partner(round), '--trust-level', 'application', ...store],
        ['partner', 'set', partner(round), '--accept-unsigned-user-context', ...store],
      ]),
    ];
    const start = Date.now() + START_MS;
    const outputs = await Promise.all(plans.map((plan) => runInChildProcess(ADMINISTRATOR, String(start), String(SLOT_MS), JSON.stringify(plan))));
    const results = outputs.flatMap((output) => JSON.parse(output) as Result[]);
    expect(results).to.have.length(ROUNDS * 6);

    const reader = SqliteStore.open(file);
    const lostChanges: string[] = [];
    const refused: string[] = [];
    try {
      for (const result of results) {
        if (result.code !== 0) {
          refused.push(`round ${result.round}: ${result.argv.slice(0, -2).join(' ')}: exit ${result.code} ${result.stderr.trim()}`);
          continue;
        }
        const [kind, verb] = result.argv;
        const stored = kind === 'partner' ? reader.get(partner(result.round)) : reader.getClient(CLIENT, realm(result.round));
        const flags = result.argv.join(' ');
        const kept =
          verb === 'disable'
            ? stored?.enabled === false
            : flags.includes('--scope')
              ? JSON.stringify((stored as { scopes?: unknown }).scopes) === JSON.stringify([`scope.${result.round}`, 'shared'])
              : flags.includes('--trust-level')
                ? (stored as { trustLevel?: unknown }).trustLevel === 'application'
                : flags.includes('--accept-unsigned-user-context')
                  ? (stored as { acceptUnsignedUserContext?: unknown }).acceptUnsignedUserContext === true
                  : JSON.stringify((stored as { grants?: unknown }).grants) === JSON.stringify([{ resource: RESOURCE, scopes: [`grant.${result.round}`], delegation: false }]);
        if (!kept) lostChanges.push(`round ${result.round}: ${result.argv.slice(0, -2).join(' ')}`);
      }
    } finally {
      reader.close();
    }
    // No change acknowledged with exit 0 is missing from the file...
    expect(lostChanges, `${lostChanges.length} acknowledged changes lost`).to.deep.equal([]);
    // ... and none was refused: a field change racing another is applied on top of it.
    expect(refused).to.deep.equal([]);
  });
});
