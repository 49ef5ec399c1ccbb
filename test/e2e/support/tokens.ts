/**
 * Reading (not verifying) the tokens seen on the wire, to tell which (audience, user, scopes) each
 * was minted for and whether two calls reused one token. The servers verify; the tests only count.
 */

/** The payload of a compact JWS, decoded without checking the signature. */
export function jwsPayload(token: string): Record<string, unknown> {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error(`not a compact JWS: ${parts.length} segments`);
  const payload: unknown = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8'));
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new Error('the JWS payload is not an object');
  return payload as Record<string, unknown>;
}

/** What a user-context token (outer token with its actor token) was minted for. */
export interface TokenPurpose {
  readonly audience: string;
  readonly user: string;
  readonly scopes: string;
  /** The actor token's jti. */
  readonly jti: string;
}

/** The audience, user, scopes and actor jti of a user-context token (or of an app-only actor token). */
export function tokenPurpose(token: string): TokenPurpose {
  const outer = jwsPayload(token);
  const actor = typeof outer['actortoken'] === 'string' ? jwsPayload(outer['actortoken']) : outer;
  const user = [outer['smtp'], outer['upn'], outer['sip'], outer['nameid']].find((claim) => typeof claim === 'string');
  return {
    audience: String(outer['aud']),
    user: typeof user === 'string' && actor !== outer ? user : '(app only)',
    scopes: typeof actor['scp'] === 'string' ? actor['scp'] : '(all granted)',
    jti: String(actor['jti']),
  };
}
