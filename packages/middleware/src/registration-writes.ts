/**
 * How a registration is written, the same for every aggregate of the registry (partners, OAuth
 * servers): what the registry lends its aggregates ({@link RegistryLedger}: the one revision and
 * change feed, the key sources), and the two write protocols of issue 9.
 *
 * Both protocols may fetch a metadata document (asynchronously) before they write, so the write
 * itself checks again, on the record as it is then, in one store write (`modify`): of two
 * concurrent adds of one identity the second is refused rather than replacing the first, and a
 * change made meanwhile to other fields (by another process too) is kept, not overwritten.
 */
import type { RegistryEntryKind } from '@s2sauth/store';
import { alreadyRegistered, changedMeanwhile, invalid, notRegistered, type RegistrationNoun } from './registry-error.js';
import type { KeySources } from './trust-key-sets.js';

/** What the registry lends each of its aggregates. */
export interface RegistryLedger {
  /**
   * Runs `write`, a store write of `identity`, and reports the change (revision, key sets,
   * subscribers) unless `happened` says nothing changed or the store already reported it (stores
   * notify synchronously; one that does not must still not leave stale keys behind).
   */
  written<Result>(identity: string, kind: RegistryEntryKind, write: () => Result, happened?: (result: Result) => boolean): Result;
  /** Moves the revision without a registration change (a key set replaced, an endpoint learnt). */
  moved(): void;
  /** Key sets and last good documents of key sources. */
  readonly keySources: KeySources;
}

/** One aggregate's side of the write protocols, for records `Stored` validated into `Checked`. */
export interface RegistrationRules<Stored, Checked> {
  readonly noun: RegistrationNoun;
  /** The stored registration named `identity`, if any. */
  get(identity: string): Stored | undefined;
  /** Whether `merged`, made of `existing`, needs its metadata document fetched and checked again. */
  needsRefetch(existing: Stored, merged: Checked): boolean;
  /** What a fetched document is checked against, as a comparable string. */
  basisOf(record: Stored): string;
  /** Checks `checked` (made of `existing`, if any) against the other registrations; throws to refuse. */
  settle(checked: Checked, existing: Stored | undefined): void;
}

/**
 * The steps of one write: fetch (when needed), build the record, write it. `Current` is the record
 * a change applies to (`undefined` for an add).
 */
export interface WriteSteps<Stored, Checked, Fetched, Built, Result, Current extends Stored | undefined = Stored | undefined> {
  /**
   * Fetches and checks what `checked` needs (nothing unless `refetch`). A change that fetches
   * nothing may answer at once, and is then written in the same turn as it was read.
   */
  fetch(checked: Checked, refetch: boolean): Fetched | Promise<Fetched>;
  /** The record to store, of `checked` and what was fetched; `current` is the record changed. */
  build(checked: Checked, fetched: Fetched, current: Current): Built;
  /** Writes `identity` in one store write as `make` makes it of the current record. */
  write(identity: string, fetched: Fetched, make: (current: Stored | undefined) => Built): Result;
}

/**
 * Adds a registration: `input` is validated, its document fetched, and the write refuses an
 * identity registered meanwhile.
 *
 * @throws PartnerRegistryError `invalid`, `exists`, and whatever the steps throw; nothing is stored then.
 */
export async function addRegistration<Input, Stored, Checked extends { readonly identity: string }, Fetched, Built, Result>(
  rules: RegistrationRules<Stored, Checked>,
  input: Input,
  validate: (input: Input) => Checked,
  steps: WriteSteps<NoInfer<Stored>, Checked, Fetched, Built, Result, undefined>,
): Promise<Result> {
  if (typeof input !== 'object' || input === null) throw invalid('input', 'must be an object');
  const checked = validate(input);
  const { identity } = checked;
  if (rules.get(identity) !== undefined) throw alreadyRegistered(rules.noun, identity);
  rules.settle(checked, undefined);
  const fetched = await steps.fetch(checked, true);
  return steps.write(identity, fetched, (current) => {
    if (current !== undefined) throw alreadyRegistered(rules.noun, identity);
    return steps.build(checked, fetched, undefined);
  });
}

/**
 * Changes the registration `identity`: `changes` are applied to the record (`change`) and the
 * document fetched when they need it; then applied again, in the write, to the record as it is
 * then. Refused only when what a document is checked against changed meanwhile and this change
 * fetched a document for the old one, or now would need one.
 *
 * @throws PartnerRegistryError `invalid`, `not_found`, `conflict`, and whatever the steps throw.
 */
export async function changeRegistration<Changes, Stored, Checked, Fetched, Built, Result>(
  rules: RegistrationRules<Stored, Checked>,
  identity: string,
  changes: Changes,
  change: (record: Stored, changes: Changes) => Checked,
  steps: WriteSteps<NoInfer<Stored>, Checked, Fetched, Built, Result, NoInfer<Stored>>,
): Promise<Result> {
  if (typeof changes !== 'object' || changes === null) throw invalid('changes', 'must be an object');
  if (Object.hasOwn(changes, 'identity')) throw invalid('identity', `cannot be changed; remove and add the ${rules.noun.name} instead`);
  const existing = rules.get(identity);
  if (existing === undefined) throw notRegistered(rules.noun, identity);
  const first = change(existing, changes);
  const refetch = rules.needsRefetch(existing, first);
  rules.settle(first, existing);
  const pending = steps.fetch(first, refetch);
  const fetched = pending instanceof Promise ? await pending : pending;
  return steps.write(identity, fetched, (current) => {
    if (current === undefined) throw notRegistered(rules.noun, identity);
    if (refetch && rules.basisOf(current) !== rules.basisOf(existing)) throw changedMeanwhile(rules.noun, identity);
    const again = change(current, changes);
    if (!refetch && rules.needsRefetch(current, again)) throw changedMeanwhile(rules.noun, identity);
    rules.settle(again, current);
    return steps.build(again, fetched, current);
  });
}
