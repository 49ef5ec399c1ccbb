/**
 * Protocol.md section 3.3 steps 2 and 3: the strict parse of a bearer token, and which token is
 * the actor. A token whose payload has `actortoken` is an outer (user context) token over the
 * actor token it carries; any other token is an actor token alone (an app-only call).
 */
import { InvalidTokenError, type ParsedJws, parseJws } from '@s2sauth/protocol';
import { fail, own } from './verifier-state.js';

/** A bearer token taken apart: the actor token, and the outer token over it for a user context. */
export interface TokenPair {
  readonly actor: ParsedJws;
  readonly outer: ParsedJws | undefined;
}

/**
 * The first parse. Only an outer token may carry `x5c` (over an STS-issued actor, protocol.md
 * 3.2), and whether a token is an outer token is in its payload, so a token is parsed strictly
 * first and, only when its sole fault was an `x5c`, again with `x5c` allowed to see whether it is
 * an outer token. Whatever else the lenient parse finds wrong, the strict refusal stands.
 */
function parseFirst(token: string): ParsedJws {
  try {
    return parseJws(token, { allowUnsigned: true, allowX5c: false });
  } catch (error) {
    if (!(error instanceof InvalidTokenError) || error.code !== 'token_x5c_not_allowed') throw error;
    let lenient: ParsedJws;
    try {
      lenient = parseJws(token, { allowUnsigned: true, allowX5c: true });
    } catch {
      throw error;
    }
    if (!Object.hasOwn(lenient.payload, 'actortoken')) throw error;
    return lenient;
  }
}

/** Steps 2 and 3: the strict parse, and which token is the actor. */
export function splitToken(token: string): TokenPair {
  // Whether the token is an outer token is in its payload, so the first parse must let `none`
  // through; an unsigned token that turns out not to be an outer token is refused just below.
  // An outer token's `x5c` is refused again in verifyOuter unless its actor is STS-issued.
  const first = parseFirst(token);
  if (!Object.hasOwn(first.payload, 'actortoken')) {
    if (first.header.alg !== 'RS256') fail('token_unsupported_alg', 'an unsigned token is accepted only as an outer token over an actor token');
    return { actor: first, outer: undefined };
  }
  const actorText = own(first.payload, 'actortoken');
  if (typeof actorText !== 'string') fail('claim_type', 'outer token actortoken is not a string');
  const actor = parseJws(actorText, { allowUnsigned: false, allowX5c: false });
  if (Object.hasOwn(actor.payload, 'actortoken')) fail('actor_user_claims', 'the actor token carries an actortoken of its own');
  return { actor, outer: first };
}
