/**
 * Time as the rest of s2sauth sees it. Every component that reads the time takes a `Clock`, so
 * tests can move time (rollover, expiry, staleness) without waiting.
 */

/** Returns the current time in milliseconds since the Unix epoch, like `Date.now`. */
export type Clock = () => number;

/** The real clock. */
export const systemClock: Clock = () => Date.now();

/** Whole seconds since the epoch (a JWT NumericDate) for a clock reading. */
export function epochSeconds(clock: Clock): number {
  return Math.floor(clock() / 1000);
}
