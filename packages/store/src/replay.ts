/**
 * Remembers which tokens have been seen, so that a token meant to be used once (an STS client
 * assertion, protocol.md section 6: "each (iss, jti) is accepted once") cannot be replayed. Shared
 * by every instance of a server when it is backed by a shared database.
 */
export interface ReplayStore {
  /**
   * Atomically records that `jti` from `issuer` has been used until `expiresAt` (ms since the
   * epoch). Returns true the first time, false while an unexpired claim for the same pair exists;
   * after `expiresAt` the pair may be claimed again (the token it protects has expired by then).
   * A claim whose `expiresAt` is not in the future returns false: it could not be remembered.
   */
  claim(issuer: string, jti: string, expiresAt: number): boolean;
}

/** How long to wait between sweeps of expired replay claims (ms); claims trigger the sweeps. */
export const REPLAY_PURGE_INTERVAL_MS = 60_000;

/** Checks the arguments of {@link ReplayStore.claim}; a `TypeError` names the bad one. */
export function checkClaim(issuer: unknown, jti: unknown, expiresAt: unknown): void {
  if (typeof issuer !== 'string') throw new TypeError('claim: issuer must be a string');
  if (typeof jti !== 'string') throw new TypeError('claim: jti must be a string');
  if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
    throw new TypeError('claim: expiresAt must be a finite number of milliseconds');
  }
}
