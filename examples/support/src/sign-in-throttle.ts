/**
 * Throttling of failed sign-ins (`POST /login`) for both demo servers, with express-rate-limit: at
 * most {@link DEFAULT_SIGN_IN_LIMITS}`.perUser` failed sign-ins per user name and
 * `.perAddress` per client address in a window of `.windowMs`. A sign-in that succeeds does not
 * count. Once a limit is reached, every sign-in for that user (or from that address) is answered
 * 429 `too_many_sign_ins` with `Retry-After`, the right password included, until the window ends:
 * that is what stops password guessing.
 */
import { rateLimit, type Options } from 'express-rate-limit';
import type { Request, RequestHandler } from 'express';
import { ApiError } from './api-error.js';

/** The limits of {@link signInThrottle}. */
export interface SignInLimits {
  /** How long failures are counted, in ms. */
  readonly windowMs: number;
  /** Failed sign-ins allowed per user name in a window; the next is answered 429. */
  readonly perUser: number;
  /** Failed sign-ins allowed per client address (any user names) in a window; the next is answered 429. */
  readonly perAddress: number;
}

/** The default limits: 5 failures per user name and 20 per address in 15 minutes. */
export const DEFAULT_SIGN_IN_LIMITS: SignInLimits = Object.freeze({ windowMs: 15 * 60_000, perUser: 5, perAddress: 20 });

/** The user name a sign-in names (JSON or form body, parsed before), as a key: trimmed, lowercase. */
function userKey(req: Request): string | undefined {
  const body: unknown = req.body;
  if (typeof body !== 'object' || body === null) return undefined;
  const username: unknown = (body as Record<string, unknown>)['username'];
  return typeof username === 'string' && username.trim() !== '' ? username.trim().toLowerCase() : undefined;
}

/**
 * The middleware to put before a `POST /login` handler, after its body parsers: first the limit per
 * address, then the limit per user name (a body without a user name counts for the address only).
 * Each call keeps its own counts in memory, per server process.
 *
 * @param limits overrides of {@link DEFAULT_SIGN_IN_LIMITS}.
 * @throws TypeError when a limit is not a positive integer.
 */
export function signInThrottle(limits: Partial<SignInLimits> = {}): RequestHandler[] {
  const { windowMs, perUser, perAddress } = { ...DEFAULT_SIGN_IN_LIMITS, ...limits };
  for (const [name, value] of Object.entries({ windowMs, perUser, perAddress })) {
    if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`signInThrottle: ${name} must be a positive integer.`);
  }
  const common: Partial<Options> = {
    windowMs,
    // Successful sign-ins do not count: only a status of 400 or more does.
    skipSuccessfulRequests: true,
    // RateLimit and RateLimit-Policy on every answer, Retry-After on a 429.
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    // The demo servers are reached directly: the address is the socket's, X-Forwarded-For is ignored.
    validate: { xForwardedForHeader: false },
  };
  const refuse = (what: string): Options['handler'] => (_req, _res, next) => {
    next(new ApiError(429, 'too_many_sign_ins', `Too many failed sign-ins ${what}: try again after the time in Retry-After.`));
  };
  return [
    rateLimit({ ...common, limit: perAddress, handler: refuse('from this address') }),
    rateLimit({
      ...common,
      limit: perUser,
      skip: (req) => userKey(req) === undefined,
      keyGenerator: (req) => userKey(req) ?? '',
      handler: refuse('for this user'),
    }),
  ];
}
